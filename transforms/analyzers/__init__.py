"""Analyzers fitted over the whole dataset: PCA, whitening, ICA, TF-IDF with LSA.

Each is a CombineFn over sufficient statistics (or a deterministic bounded sample) that any
number of workers can merge, then a fit in ``extract_output``; the fitted result is an
:class:`~mmfuse.transforms.analyzers.artifacts.Artifact` (npz + JSON, with a content hash) applied to
every row through a side input.
"""
