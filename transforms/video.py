"""Video decoding with PyAV: the frames of one time chunk, sampled by PTS against a grid.

Sampling rule (``fps`` > 0, grid points ``k / fps`` on the media clock): a frame is kept when a
grid point lies in ``(previous frame's time, this frame's time]``: the first frame at or after
each grid point, each frame at most once. It only depends on the stream's timestamps, so a
chunk that starts anywhere keeps exactly the frames an unchunked pass keeps. ``fps`` = 0 keeps
every frame.

Speed: only kept frames are converted to pixels, and a non-reference frame that cannot be kept
is not decoded at all (``skip_frame = NONREF`` for that packet).
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterator, Optional

import av

from schemas.records import Chunk
from transforms.clock import US_PER_SECOND, pts_to_us, us_to_pts
from transforms.errors import DecodeError
from transforms.media import open_container

__all__ = ["FrameGrid", "SampledFrame", "VideoDecodeStats", "iter_sampled_frames"]

_LOG = logging.getLogger(__name__)


class FrameGrid:
    """The keep rule for a sampling rate in frames per second (0 keeps every frame)."""

    def __init__(self, fps):
        fps = Fraction(str(fps)) if isinstance(fps, float) else Fraction(fps)
        if fps < 0:
            raise ValueError("fps must be >= 0")
        self.fps = fps

    def slot(self, t_us: int) -> int:
        """Index of the latest grid point at or before ``t_us``."""
        return (t_us * self.fps.numerator) // (US_PER_SECOND * self.fps.denominator)

    def slot_start_us(self, slot: int) -> int:
        """First integer microsecond at or after grid point ``slot``."""
        return -((-slot * US_PER_SECOND * self.fps.denominator) // self.fps.numerator)

    def keep(self, prev_us: Optional[int], t_us: int) -> bool:
        if t_us < 0:
            return False
        if self.fps == 0 or prev_us is None:
            return True
        return self.slot(t_us) > self.slot(prev_us)


class _SeenTimes:
    """Sorted presentation times of every demuxed packet of a chunk."""

    def __init__(self):
        self.times: list[int] = []

    def add(self, t: int) -> None:
        if not self.times or t > self.times[-1]:
            self.times.append(t)
        else:
            i = bisect.bisect_left(self.times, t)
            if i == len(self.times) or self.times[i] != t:
                self.times.insert(i, t)

    def before(self, t: int) -> Optional[int]:
        i = bisect.bisect_left(self.times, t)
        return self.times[i - 1] if i else None

    def any_in(self, lo: int, hi: int) -> bool:
        i = bisect.bisect_left(self.times, lo)
        return i < len(self.times) and self.times[i] < hi

    def prune(self, below: int) -> None:
        """Forget times older than the last one before ``below`` (it is still needed)."""
        i = bisect.bisect_left(self.times, below)
        if i > 64:
            del self.times[: i - 1]


@dataclass
class SampledFrame:
    pts_us: int
    image: object  # whatever the converter returned (usually an ndarray)


@dataclass
class VideoDecodeStats:
    packets: int = 0
    decoded: int = 0
    kept: int = 0
    skipped_nonref_packets: int = 0
    errors: int = 0
    end_us: Optional[int] = None
    first_error: Optional[str] = None


def _packet_time(packet, tb, origin_us) -> Optional[int]:
    ts = packet.pts if packet.pts is not None else packet.dts
    return None if ts is None else pts_to_us(ts, tb, origin_us)


def iter_sampled_frames(
    uri: str,
    stream_index: int,
    origin_us: int,
    chunk: Chunk,
    fps,
    convert: Callable[[av.VideoFrame], object],
    stats: Optional[VideoDecodeStats] = None,
    skip_nonref: bool = True,
    threads: int = 0,
) -> Iterator[SampledFrame]:
    """Kept frames with presentation time in ``chunk``, in time order, converted by ``convert``.

    Decoding starts at the keyframe before the chunk; corrupt packets are counted in ``stats``
    and skipped. Raises :class:`DecodeError` only when nothing of the stream decodes.
    """
    grid = FrameGrid(fps)
    stats = stats if stats is not None else VideoDecodeStats()
    with open_container(uri) as container:
        stream = container.streams[stream_index]
        stream.thread_type = "AUTO"
        if threads:
            stream.thread_count = threads
        ctx = stream.codec_context
        tb = stream.time_base
        seen = _SeenTimes()
        packets = _positioned_packets(container, stream, tb, origin_us, chunk.start_us)
        last_kept = None
        skipping = False
        for packet in packets:
            stats.packets += 1
            tp = _packet_time(packet, tb, origin_us) if packet.size else None
            if tp is not None:
                seen.add(tp)
                if skip_nonref and grid.fps > 0:
                    # A non-reference frame is never kept when another frame lies between the
                    # grid point before it and itself; then it need not be decoded at all.
                    can_skip = tp < chunk.start_us or seen.any_in(grid.slot_start_us(grid.slot(tp)), tp)
                    if can_skip != skipping:
                        ctx.skip_frame = "NONREF" if can_skip else "DEFAULT"
                        skipping = can_skip
                    stats.skipped_nonref_packets += can_skip
            try:
                frames = packet.decode()
            except av.error.FFmpegError as err:
                stats.errors += 1
                stats.first_error = stats.first_error or f"{type(err).__name__}: {err}"
                continue
            for frame in frames:
                if frame.pts is None:
                    stats.errors += 1
                    stats.first_error = stats.first_error or "frame without a timestamp"
                    continue
                stats.decoded += 1
                t = pts_to_us(frame.pts, tb, origin_us)
                stats.end_us = t if stats.end_us is None else max(stats.end_us, t)
                if chunk.end_us is not None and t >= chunk.end_us:
                    return
                if t < chunk.start_us or t == last_kept:
                    continue
                if grid.keep(seen.before(t), t):
                    last_kept = t
                    stats.kept += 1
                    yield SampledFrame(t, convert(frame))
                seen.prune(t)
        if stats.decoded == 0 and stats.errors:
            raise DecodeError(f"{uri}: video stream {stream_index} did not decode: {stats.first_error}")


def _positioned_packets(container, stream, tb, origin_us: int, start_us: int) -> Iterator:
    """Packets from a keyframe strictly before ``start_us`` (so the frame before the chunk is
    known), or from the stream's start."""
    if start_us <= 0:
        yield from container.demux(stream)
        return
    back_us = 1
    while True:
        target = start_us - back_us
        if target <= 0:
            container.seek(0, stream=stream, backward=True)
            yield from container.demux(stream)
            return
        try:
            container.seek(us_to_pts(target, tb, origin_us), stream=stream, backward=True)
        except av.error.FFmpegError as err:
            _LOG.debug("seek failed (%s); decoding from the start", err)
            container.seek(0, stream=stream, backward=True)
            yield from container.demux(stream)
            return
        demux = container.demux(stream)
        head = []
        ok = False
        for packet in demux:
            head.append(packet)
            t = _packet_time(packet, tb, origin_us) if packet.size else None
            if t is not None:
                ok = t < start_us
                break
        if ok or not head:
            yield from head
            yield from demux
            return
        back_us = max(back_us * 4, 2 * US_PER_SECOND)
