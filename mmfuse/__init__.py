"""mmfuse: decode videos, audio and transcripts, align them on one media clock, and write fused,
time-aligned feature tables in Parquet, on Apache Beam.

The package follows the data flow::

    mmfuse.transforms.inputs    manifests and globs → MediaItems
    mmfuse.transforms.media     probe, chunk plan, exact video and audio decoding
    mmfuse.transforms.text      transcript parsers (SRT, WebVTT, Whisper JSON, plain, embedded), tokens
    mmfuse.transforms.align     subtitle and A/V offsets, word timings, shots, alignment by content
    mmfuse.transforms.features  classical extractors, CNN/RNN through RunInference, MiniLM
    mmfuse.transforms.analyzers PCA / whitening / ICA / TF-IDF fitted over the dataset
    mmfuse.transforms.fuse      the window grid: one row per item × window, and the media rows
    mmfuse.transforms.sinks     Parquet tables, run.json, resume
    mmfuse.pipelines            the command lines (``mmfuse``, ``python -m mmfuse.pipelines.demo``)
    mmfuse.schemas              records and the Arrow schema of every table
    mmfuse.settings             every setting, declared once (the CLI is built from it)

Importing ``mmfuse`` itself is cheap: it loads no Beam, decoder or model.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
