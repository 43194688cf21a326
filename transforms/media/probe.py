"""Open media through Beam's FileSystems with PyAV, list its streams, choose the ones to use.

Probing reads the header, decodes the first frame of each chosen stream (so the item's start
times come from decoded frames, not from header fields that can lie) and finds the duration,
by demuxing the whole file when the header has none.
"""

from __future__ import annotations

import contextlib
import logging
from fractions import Fraction
from typing import Iterator, Optional

import av

from mmfuse.clock import US_PER_SECOND, pts_to_us
from mmfuse.errors import DecodeError, InputTooLarge, NoDecodableStream, UnreadableContainer
from mmfuse.fs import open_read
from mmfuse.schemas.records import MediaInfo, MediaItem, StreamInfo
from mmfuse.transforms.media.declared import declared_end_us, ends_mid_packet, plausible_duration_us, sniff, still_image_size

__all__ = ["choose_stream", "demux", "ffmpeg_errors", "open_container", "probe_media", "stream_info", "stream_of"]

_LOG = logging.getLogger(__name__)
# Packets to try before giving up on decoding a stream's first frame.
_MAX_PROBE_PACKETS = 500


@contextlib.contextmanager
def open_container(uri: str) -> Iterator[av.container.InputContainer]:
    """An input container over ``uri``, read through FileSystems; typed errors on failure."""
    with open_read(uri) as f:
        try:
            container = av.open(f, mode="r", metadata_errors="replace")
        except av.error.FFmpegError as err:
            raise UnreadableContainer(f"{uri}: not a media file ffmpeg can read ({err.strerror or err})") from err
        except (EOFError, ValueError, OSError) as err:
            raise UnreadableContainer(f"{uri}: cannot open as media ({err})") from err
        try:
            yield container
        finally:
            container.close()


def stream_of(container, index: int, uri: str, kind: Optional[str] = None):
    """Stream ``index`` of an opened container. A damaged file can show other streams each
    time it is opened (ffmpeg probes its first packets), so the stream probing chose may be
    missing when a decoder opens the file again: a :class:`DecodeError`, not an IndexError."""
    streams = container.streams
    if not 0 <= index < len(streams):
        raise DecodeError(
            f"{uri}: stream {index} is gone when the file is opened again ({len(streams)} streams now; damaged file?)"
        )
    stream = streams[index]
    if kind is not None and stream.type != kind:
        raise DecodeError(f"{uri}: stream {index} is {stream.type}, not {kind}, when the file is opened again (damaged file?)")
    return stream


def demux(container, *streams) -> Iterator:
    """``container.demux(*streams)`` that reads on past packets of streams ffmpeg finds only
    mid-file (MPEG-TS with damaged tables): PyAV raises IndexError for those and ends the
    generator, so a new one resumes at the next packet."""
    skipped = 0
    while True:
        try:
            yield from container.demux(*streams)
            return
        except IndexError:
            skipped += 1
            if skipped > 100_000:
                raise DecodeError("more than 100000 packets of streams that appeared mid-file") from None


@contextlib.contextmanager
def ffmpeg_errors(enabled: bool = True) -> Iterator[list]:
    """Error messages ffmpeg logs in this thread while the block runs: a demuxer skipping
    damaged data says so only there. Yields a list of ``(level, component, message)``.

    Only safe without decoder threads: PyAV's log callback takes the GIL, and a frame-threaded
    decoder that logs while the caller waits on it would deadlock. Callers that decode with
    several threads pass ``enabled=False``, which also turns a capture level left by earlier
    calls off again."""
    if not enabled:
        if av.logging.get_level() == av.logging.ERROR:
            av.logging.set_level(None)
        yield []
        return
    if av.logging.get_level() is None or av.logging.get_level() < av.logging.ERROR:
        av.logging.set_level(av.logging.ERROR)
        logging.getLogger("libav").setLevel(logging.CRITICAL)  # captured here, not printed
    # PyAV drops a message equal to the one before and reports "repeated N times" with the
    # next different one, in whatever thread logs next: an item's messages would then depend on
    # the items decoded before it, and land in another item's capture.
    if av.logging.get_skip_repeated():
        av.logging.set_skip_repeated(False)
    with av.logging.Capture(local=True) as logs:
        yield logs


def container_origin_us(container) -> int:
    """The container's start on the media clock: what players show as 0:00.

    Negative starts (audio priming before an edit list) are not presented, so the origin is
    never below zero.
    """
    start = container.start_time
    return int(start) if start is not None and start > 0 else 0


def _disposition_has(stream, name: str) -> bool:
    try:
        return bool(stream.disposition & getattr(av.stream.Disposition, name))
    except (AttributeError, TypeError):
        return False


def _codec_name(stream) -> Optional[str]:
    """The format's name for the codec (``av1``), not the decoder's (``libdav1d``)."""
    try:
        return stream.codec.canonical_name
    except Exception:  # a stream whose codec ffmpeg does not know
        return None


def stream_info(stream, origin_us: int) -> StreamInfo:
    tb = stream.time_base
    ctx = stream.codec_context
    kind = stream.type if stream.type in ("video", "audio", "subtitle", "data", "attachment") else "data"
    codec = _codec_name(stream)
    start_us = pts_to_us(stream.start_time, tb, origin_us) if stream.start_time is not None and tb else None
    duration_us = pts_to_us(stream.duration, tb) if stream.duration is not None and tb else None
    frame_rate = sample_rate = channels = width = height = None
    if kind == "video" and ctx is not None:
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        frame_rate = float(rate) if rate else None
        width, height = ctx.width or None, ctx.height or None
    elif kind == "audio" and ctx is not None:
        sample_rate = ctx.sample_rate or None
        channels = ctx.channels or None
    language = stream.language or (stream.metadata or {}).get("language")
    return StreamInfo(
        index=stream.index,
        kind=kind,
        codec=codec,
        time_base=Fraction(tb) if tb else None,
        start_us=start_us,
        duration_us=duration_us,
        frame_rate=frame_rate,
        sample_rate=sample_rate,
        channels=channels,
        width=width,
        height=height,
        language=language,
        is_default=_disposition_has(stream, "default"),
    )


def choose_stream(container, kind: str, requested: Optional[int] = None):
    """The stream ffmpeg would pick by default: video by largest picture, audio by most
    channels, a default disposition worth more than either; ties go to the first.
    ``requested`` is the index among streams of that kind (``--video_stream 1``)."""
    streams = [s for s in container.streams if s.type == kind]
    if kind == "video":
        streams = [s for s in streams if not _disposition_has(s, "attached_pic")]
    if requested is not None:
        if requested < 0 or requested >= len(streams):
            raise NoDecodableStream(f"there is no {kind} stream {requested} (the file has {len(streams)})")
        return streams[requested]

    def score(s):
        ctx = s.codec_context
        base = 0
        if ctx is not None:
            base = (ctx.width or 0) * (ctx.height or 0) if kind == "video" else (ctx.channels or 0)
        return base + (5_000_000 if _disposition_has(s, "default") else 0)

    best = None
    for s in streams:
        if s.codec_context is None:
            continue
        if best is None or score(s) > score(best):
            best = s
    return best


def _first_frame_times(container, streams, origin_us: int) -> dict[int, Fraction]:
    """Exact media-clock time (seconds) of the first decoded frame of each stream, in one pass
    from the start; a stream missing from the result does not decode."""
    streams = [s for s in streams if s is not None]
    found: dict[int, Fraction] = {}
    if not streams:
        return found
    counts = {s.index: 0 for s in streams}
    for s in streams:
        s.thread_count = 1  # no decoder threads: see ffmpeg_errors
    try:
        for packet in demux(container, *streams):
            idx = packet.stream.index
            if idx in found or counts[idx] >= _MAX_PROBE_PACKETS:
                if all(i in found or counts[i] >= _MAX_PROBE_PACKETS for i in counts):
                    break
                continue
            counts[idx] += 1
            try:
                frames = packet.decode()
            except av.error.FFmpegError as err:
                _LOG.debug("probe decode error: %s", err)
                frames = []
            for frame in frames:
                if frame.pts is None:
                    # A raw stream with no timestamps at all starts at the media clock's origin.
                    found[idx] = Fraction(0)
                else:
                    tb = packet.stream.time_base
                    found[idx] = Fraction(frame.pts) * tb - Fraction(origin_us, US_PER_SECOND)
                break
            if len(found) == len(streams):
                break
    except av.error.FFmpegError as err:
        _LOG.debug("probe demux error: %s", err)
    return found


def _scan_end_us(uri: str, indices: list[int], origin_us: int) -> Optional[int]:
    """End time of the given streams by demuxing every packet (no decoding): for files whose
    header has no duration."""
    end = None
    with open_container(uri) as c:
        streams = [stream_of(c, i, uri) for i in indices]
        try:
            for packet in c.demux(*streams):
                if packet.pts is None:
                    continue
                t = pts_to_us(packet.pts + (packet.duration or 0), packet.stream.time_base, origin_us)
                end = t if end is None else max(end, t)
        except av.error.FFmpegError as err:
            _LOG.debug("scan stopped: %s", err)
    return end


def _duration_us(container, streams, origin_us: int) -> Optional[int]:
    """End of the chosen streams on the media clock from their headers, else the container's
    duration, else None (then the caller demuxes to find it). A subtitle track that runs past
    the picture and sound does not stretch the item."""
    ends = []
    for s in streams:
        if s is not None and s.duration is not None and s.time_base:
            start = s.start_time or 0
            ends.append(pts_to_us(start + s.duration, s.time_base, origin_us))
    if ends:
        return max(ends)
    if container.duration is not None and container.duration > 0:
        start = container.start_time or 0
        return int(start) + int(container.duration) - origin_us
    return None


def _describe(uri: str, kinds: tuple[str, ...], requested: dict[str, Optional[int]], max_pixels: Optional[int] = None) -> dict:
    """Streams of one file, the chosen stream of each wanted kind, and the first frame time of
    each chosen stream. A chosen video stream over ``max_pixels`` is refused from its header, before
    mmfuse decodes a frame (one 16000×16000 frame alone takes 384 MB); a still image, even
    before ffmpeg opens it."""
    header, size = sniff(uri)
    if max_pixels is not None and "video" in kinds:
        picture = still_image_size(header)
        if picture is not None and picture[0] * picture[1] > max_pixels:
            w, h = picture
            raise InputTooLarge(f"{uri}: picture is {w}x{h} ({w * h / 1e6:.1f} MP), above --max_megapixels {max_pixels / 1e6:g}")
    with open_container(uri) as c:
        origin = container_origin_us(c)
        infos = [stream_info(s, origin) for s in c.streams]
        chosen = {k: choose_stream(c, k, requested.get(k)) for k in kinds}
        video = chosen.get("video")
        if video is not None and max_pixels is not None:
            w, h = video.codec_context.width or 0, video.codec_context.height or 0
            if w * h > max_pixels:
                raise InputTooLarge(
                    f"{uri}: video is {w}x{h} ({w * h / 1e6:.1f} MP), above --max_megapixels {max_pixels / 1e6:g}"
                )
        firsts = _first_frame_times(c, list(chosen.values()), origin)
        duration = _duration_us(c, list(chosen.values()), origin)
        declared = declared_end_us(c, header, origin, video)
        cut = ends_mid_packet(c, uri, size)
        return {
            "format": c.format.name,
            "origin": origin,
            "infos": infos,
            "chosen": {k: (None if s is None else (s.index, _codec_name(s))) for k, s in chosen.items()},
            "firsts": firsts,
            "duration": duration,
            "declared": declared,
            "warnings": [cut] if cut else [],
            "size": size,
        }


def probe_media(
    item: MediaItem, video_stream: Optional[int] = None, audio_stream: Optional[int] = None, max_pixels: Optional[int] = None
) -> MediaInfo:
    """Open an item's files and describe them. Raises a :class:`MediaError` subclass when the
    item cannot be used at all (:class:`~mmfuse.errors.InputTooLarge` for video over
    ``max_pixels``); a stream that fails while another works becomes a warning."""
    requested = {"video": video_stream, "audio": audio_stream}
    warnings: list[str] = []
    found: dict[str, tuple[StreamInfo, Fraction, int]] = {}
    lists: dict[str, tuple[StreamInfo, ...]] = {"video": (), "audio": (), "other": ()}
    fmt = None
    durations: list[int] = []
    declared: list[int] = []
    sizes: list[int] = []
    sources = []
    if item.video_uri:
        sources.append((item.video_uri, ("video",) if item.audio_uri else ("video", "audio")))
    if item.audio_uri:
        sources.append((item.audio_uri, ("audio",)))
    for uri, kinds in sources:
        d = _describe(uri, kinds, requested, max_pixels)
        fmt = fmt or d["format"]
        for kind in ("video", "audio"):
            if kind in kinds:
                lists[kind] = tuple(i for i in d["infos"] if i.kind == kind)
        if "video" in kinds:
            lists["other"] = tuple(i for i in d["infos"] if i.kind not in ("video", "audio"))
        ends = []
        for kind in kinds:
            chosen = d["chosen"][kind]
            if chosen is None:
                continue
            index, codec = chosen
            if index not in d["firsts"]:
                warnings.append(f"{kind} stream {index} ({codec}) of {uri} does not decode")
                continue
            info = next(i for i in d["infos"] if i.index == index)
            found[kind] = (info, d["firsts"][index], d["origin"])
            ends.append(index)
        warnings.extend(d["warnings"])
        sizes.append(d["size"])
        if d["declared"] is not None:
            declared.append(d["declared"])
        if d["duration"] is not None:
            durations.append(d["duration"])
        elif ends:
            end = _scan_end_us(uri, ends, d["origin"])
            if end is not None:
                durations.append(end)
    if not found:
        detail = "; ".join(warnings) or "no audio or video stream"
        raise NoDecodableStream(f"{item.uri}: nothing to decode ({detail})")
    video = found.get("video")
    audio = found.get("audio")
    durations = [d for d in durations if d > 0]
    duration = max(durations) if durations else None
    if duration is not None:
        size = sum(sizes)
        most = plausible_duration_us(size)
        if duration > most:
            # a header (or wrapped timestamps) claiming hours for a few kilobytes: windows up
            # to that length would be millions of empty rows
            warnings.append(
                f"stated length {duration / 3.6e9:.1f} h is more than {size} bytes can hold; cut to {most / 1e6:.0f} s"
            )
            duration = most
    return MediaInfo(
        item=item,
        duration_us=duration,
        video=video[0] if video else None,
        audio=audio[0] if audio else None,
        video_origin_us=video[2] if video else 0,
        audio_origin_us=audio[2] if audio else 0,
        audio_t0=audio[1] if audio else None,
        video_streams=lists["video"],
        audio_streams=lists["audio"],
        other_streams=lists["other"],
        container_format=fmt,
        warnings=tuple(warnings),
        declared_end_us=max(declared) if declared else None,
    )
