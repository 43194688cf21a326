"""Feature extractors that need no weights: visual (per frame), audio (per window), text.

Each extractor is a small object built on a worker (never at graph construction), with a
``spec()`` that goes into the Parquet field metadata of the column it fills.
"""

from transforms.features.audio import AUDIO_EXTRACTORS, make_audio_extractor
from transforms.features.text import TEXT_EXTRACTORS, make_text_extractor
from transforms.features.visual import VISUAL_EXTRACTORS, make_visual_extractor

__all__ = [
    "AUDIO_EXTRACTORS",
    "TEXT_EXTRACTORS",
    "VISUAL_EXTRACTORS",
    "make_audio_extractor",
    "make_text_extractor",
    "make_visual_extractor",
]
