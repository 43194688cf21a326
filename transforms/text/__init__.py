"""Stage 3, text: transcripts in every format mmfuse reads, cues on the media clock, tokens.

``transcripts``  format detection and loading (``read_transcript``, ``parse_transcript``)
``srt``, ``vtt``, ``whisper``, ``plain``, ``embedded``  the parsers; ``encoding``, ``markup`` helpers
``tokens``       NLTK word tokens, offline
``cues``         cues against the media's span
"""

from mmfuse.transforms.text.transcripts import (
    TRANSCRIPT_EXTENSIONS,
    Transcript,
    detect_format,
    is_transcript_file,
    load_transcript,
    load_transcript_uri,
    parse_transcript,
    read_transcript,
)

__all__ = [
    "TRANSCRIPT_EXTENSIONS",
    "Transcript",
    "detect_format",
    "is_transcript_file",
    "load_transcript",
    "load_transcript_uri",
    "parse_transcript",
    "read_transcript",
]
