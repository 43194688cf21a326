"""Training on a run's tables: each modality alone and early, intermediate and late fusion,
compared on held-out items (``python -m mmfuse.pipelines.train``). Imports torch and
scikit-learn, not Beam."""

from mmfuse.train.comparison import Comparison, TrainSettings, compare

__all__ = ["Comparison", "TrainSettings", "compare"]
