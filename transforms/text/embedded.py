"""Subtitle streams inside media files: mov_text in MP4, SubRip, WebVTT or ASS in Matroska."""

from __future__ import annotations

from typing import Optional

from mmfuse.clock import pts_to_us
from mmfuse.errors import TranscriptError
from mmfuse.schemas.records import Cue
from mmfuse.transforms.text.markup import strip_markup

__all__ = ["TEXT_SUBTITLE_CODECS", "read_embedded"]

TEXT_SUBTITLE_CODECS = {"mov_text", "subrip", "srt", "webvtt", "ass", "ssa", "text", "ttml"}


def _text(rect) -> str:
    raw = getattr(rect, "dialogue", None) or getattr(rect, "text", None) or b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return strip_markup(text.replace("\\N", "\n").replace("\\n", "\n"))


def read_embedded(uri: str, subtitle_stream: Optional[int] = None) -> tuple[list[Cue], str, int]:
    """Cues of a text subtitle stream of a media file, on its media clock: ``(cues, codec,
    stream index)``. ``subtitle_stream`` counts subtitle streams from 0 (default: the first
    text one). Raises :class:`TranscriptError` when there is none."""
    from mmfuse.transforms.media.probe import container_origin_us, demux, open_container

    try:
        with open_container(uri) as container:
            streams = [s for s in container.streams if s.type == "subtitle"]
            if subtitle_stream is not None:
                if not 0 <= subtitle_stream < len(streams):
                    raise TranscriptError(
                        f"there is no subtitle stream {subtitle_stream} (the file has {len(streams)})", name=uri
                    )
                stream = streams[subtitle_stream]
            else:
                stream = next((s for s in streams if s.codec_context and s.codec_context.name in TEXT_SUBTITLE_CODECS), None)
            if stream is None:
                raise TranscriptError("no text subtitle stream in the file", name=uri)
            codec = stream.codec_context.name
            if codec not in TEXT_SUBTITLE_CODECS:
                raise TranscriptError(f"subtitle stream {stream.index} is {codec}, not text", name=uri)
            origin = container_origin_us(container)
            tb = stream.time_base
            cues = []
            for packet in demux(container, stream):
                if packet.pts is None or not packet.size:
                    continue
                text = "\n".join(t for t in (_text(r) for r in packet.decode()) if t)
                if not text:
                    continue
                start = pts_to_us(packet.pts, tb, origin)
                end = start + (pts_to_us(packet.duration, tb) if packet.duration else 0)
                cues.append(Cue(max(0, start), max(0, end), text))
            return cues, codec, stream.index
    except TranscriptError:
        raise
    except Exception as err:  # a media error while reading subtitles is a transcript error
        raise TranscriptError(f"cannot read subtitles ({type(err).__name__}: {err})", name=uri) from err
