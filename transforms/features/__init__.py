"""Feature extractors that need no weights: visual (per frame), audio (per window), text.

Each extractor is a small object built on a worker (never at graph construction), with a
``spec()`` that goes into the Parquet field metadata of the column it fills.
"""

from mmfuse.transforms.features.audio import AUDIO_EXTRACTORS, make_audio_extractor
from mmfuse.transforms.features.pretrained import PRETRAINED
from mmfuse.transforms.features.text import TEXT_EXTRACTORS, make_text_extractor
from mmfuse.transforms.features.visual import VISUAL_EXTRACTORS, make_visual_extractor

# Choices of the command line: the extractors above plus the learned ones (models) and the
# text features fitted over the dataset. Pretrained image models (mmfuse[pretrained]) and
# "cnn" (the user's own model) run through RunInference.
VISUAL_CHOICES = (*sorted(VISUAL_EXTRACTORS), "cnn", *sorted(PRETRAINED))
AUDIO_CHOICES = (*AUDIO_EXTRACTORS, "rnn")
TEXT_CHOICES = (*TEXT_EXTRACTORS, "tfidf", "minilm")

__all__ = [
    "AUDIO_CHOICES",
    "AUDIO_EXTRACTORS",
    "TEXT_CHOICES",
    "VISUAL_CHOICES",
    "TEXT_EXTRACTORS",
    "VISUAL_EXTRACTORS",
    "make_audio_extractor",
    "make_text_extractor",
    "make_visual_extractor",
]
