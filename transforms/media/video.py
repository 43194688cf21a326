"""Video decoding with PyAV: the frames of one time chunk, sampled by PTS against a grid.

Sampling rule (``fps`` > 0, grid points ``k / fps`` on the media clock): a frame is kept when a
grid point lies in ``(previous frame's time, this frame's time]``: the first frame at or after
each grid point, each frame at most once. It only depends on the stream's timestamps, so a
chunk that starts anywhere keeps exactly the frames an unchunked pass keeps. ``fps`` = 0 keeps
every frame.

Speed: only kept frames are converted to pixels; packets whose frames cannot be kept and that
no kept frame depends on are not decoded at all (see :func:`iter_sampled_frames`).
"""

from __future__ import annotations

import bisect
import heapq
import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterator, Optional

import av

from mmfuse.clock import US_PER_SECOND, format_us, pts_to_us, us_to_pts
from mmfuse.errors import DecodeError
from mmfuse.schemas.records import Chunk
from mmfuse.transforms.media.probe import demux, ffmpeg_errors, open_container, stream_of

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
    packets: int = 0  # sent to the decoder
    decoded: int = 0
    kept: int = 0
    skipped_packets: int = 0  # never sent to the decoder
    skipped_groups: int = 0
    errors: int = 0
    corrupt: int = 0  # frames the decoder returned with concealed errors
    logged: int = 0  # errors ffmpeg logged while reading (damaged container data)
    first_logged: Optional[str] = None
    interpolated: int = 0  # frames without a timestamp, timed from the previous one
    end_us: Optional[int] = None  # time of the last decoded frame
    packet_end_us: Optional[int] = None  # end of the last packet read (read, decoded or not)
    corrupt_packets: int = 0  # packets the demuxer marked corrupt (damaged or cut-off data)
    jumped_to_us: Optional[int] = None  # a timestamp past the item's time limit, where reading stopped
    first_error: Optional[str] = None

    def error(self, message: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or message

    def warnings(self) -> tuple[str, ...]:
        out = []
        if self.errors:
            out.append(f"{self.errors} video packets failed to decode ({self.first_error})")
        if self.corrupt:
            out.append(f"{self.corrupt} video frames decoded with concealed errors")
        if self.logged:
            out.append(f"{self.logged} errors reading the video ({self.first_logged})")
        if self.corrupt_packets:
            out.append(f"{self.corrupt_packets} video packets marked corrupt by the demuxer (damaged or cut-off data)")
        if self.jumped_to_us is not None:
            out.append(
                f"video timestamps jump to {format_us(self.jumped_to_us)}, far past the file's length: the rest is ignored"
            )
        if self.interpolated:
            out.append(f"{self.interpolated} video frames had no timestamp; timed by frame duration")
        return tuple(out)


# Containers that store no presentation timestamps: AVI keeps one timestamp per chunk in
# decode order (B-frames are packed), raw elementary streams keep none. Their frames are timed
# by _SequentialClock; every other container's frames carry their own PTS.
_NO_PTS_FORMATS = {"avi", "h264", "hevc", "m4v", "mjpeg", "mpegvideo", "rawvideo", "cavsvideo", "vc1", "obu"}


def has_presentation_timestamps(container) -> bool:
    return not (_NO_PTS_FORMATS & set(container.format.name.split(",")))


def _packet_time(packet, tb, origin_us) -> Optional[int]:
    ts = packet.pts if packet.pts is not None else packet.dts
    return None if ts is None else pts_to_us(ts, tb, origin_us)


def _frame_duration_us(stream) -> int:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if rate and 0 < rate < 1000:
        return round(US_PER_SECOND / Fraction(rate))
    return 40_000


class _Decoder:
    """The codec context, the skip-frame switch, and error counting."""

    def __init__(self, ctx, stats: VideoDecodeStats, skip_nonref: bool):
        self.ctx, self.stats, self.skip_nonref = ctx, stats, skip_nonref
        self.mode = None

    def decode(self, packet, wanted: bool = True) -> list:
        mode = "DEFAULT" if (wanted or not self.skip_nonref) else "NONREF"
        if mode != self.mode:
            self.ctx.skip_frame = mode
            self.mode = mode
        self.stats.packets += packet is not None
        try:
            return self.ctx.decode(packet)
        except av.error.FFmpegError as err:
            self.stats.error(f"{type(err).__name__}: {err}")
            return []

    def flush(self) -> list:
        """Pictures still held in the decoder's reorder queue."""
        return self.decode(None, wanted=True)


def iter_sampled_frames(
    uri: str,
    stream_index: int,
    origin_us: int,
    chunk: Chunk,
    fps,
    convert: Callable[[av.VideoFrame], object],
    stats: Optional[VideoDecodeStats] = None,
    skip_nonref: bool = True,
    threads: int = 1,
    watch: Optional[Callable[[int, av.VideoFrame], None]] = None,
    preroll_us: int = 0,
    postroll_us: int = 0,
    limit_us: Optional[int] = None,
) -> Iterator[SampledFrame]:
    """Kept frames with presentation time in ``chunk``, in time order, converted by ``convert``.

    ``watch(time, frame)``, when given, sees every decoded frame from ``preroll_us`` before the
    chunk to ``postroll_us`` after it (shot detection needs them all; nothing is skipped then).
    ``threads`` decoder threads (0: ffmpeg's choice); with one, ffmpeg's error messages about
    damaged data are counted in ``stats`` too.

    In containers with per-packet presentation timestamps (MP4, MKV/WebM, MPEG-TS, …), packets
    are read a group of pictures (keyframe to keyframe) ahead, so which frames will be kept is
    known before anything is decoded: a group with no kept frame is not decoded, a group is
    decoded only up to its last kept frame, and its non-reference frames that are not kept are
    skipped by the decoder. Other containers are decoded frame by frame.

    Corrupt packets and concealed errors are counted in ``stats``; :class:`DecodeError` is
    raised only when nothing of the stream decodes.
    """
    grid = FrameGrid(fps)
    stats = stats if stats is not None else VideoDecodeStats()
    # ffmpeg's own error messages are collected only without decoder threads (see ffmpeg_errors)
    with open_container(uri) as container, ffmpeg_errors(threads == 1) as logs:
        stream = stream_of(container, stream_index, uri, "video")
        if threads != 1:
            stream.thread_type = "AUTO"
        stream.thread_count = threads
        tb = stream.time_base
        decoder = _Decoder(stream.codec_context, stats, skip_nonref and grid.fps > 0 and watch is None)
        start_us = max(0, chunk.start_us - preroll_us)
        packets = _read(_positioned_packets(container, stream, tb, origin_us, start_us), tb, origin_us, stats, limit_us)
        until = None if chunk.end_us is None else chunk.end_us + (postroll_us if watch else 0)
        reading = _planned if has_presentation_timestamps(container) else _sequential
        frames = reading(packets, decoder, grid, chunk, tb, origin_us, _frame_duration_us(stream), watch, until)
        for t, frame in frames:
            stats.kept += 1
            yield SampledFrame(t, convert(frame))
        stats.logged += len(logs)
        if logs:
            stats.first_logged = f"{logs[0][1]}: {logs[0][2].strip()}"
    if stats.decoded == 0 and stats.errors:
        raise DecodeError(f"{uri}: video stream {stream_index} did not decode: {stats.first_error}")


def _read(packets, tb, origin_us: int, stats: VideoDecodeStats, limit_us: Optional[int] = None) -> Iterator:
    """The packets up to the first one past ``limit_us``, noting in ``stats`` where they end
    and which the demuxer marked corrupt."""
    for packet in packets:
        if packet.size:
            stats.corrupt_packets += packet.is_corrupt
            t = _packet_time(packet, tb, origin_us)
            if t is not None and limit_us is not None and t > limit_us:
                stats.jumped_to_us = t
                return
            if t is not None:
                end = t + (pts_to_us(packet.duration, tb) if packet.duration else 0)
                stats.packet_end_us = end if stats.packet_end_us is None else max(stats.packet_end_us, end)
        yield packet


def _note(frame, t: int, stats: VideoDecodeStats) -> None:
    stats.decoded += 1
    stats.corrupt += frame.is_corrupt
    stats.end_us = t if stats.end_us is None else max(stats.end_us, t)


def _planned(
    packets, decoder: _Decoder, grid: FrameGrid, chunk: Chunk, tb, origin_us: int, frame_us: int, watch=None, until=None
):
    """(time, frame) of kept frames, planning each group of pictures from packet timestamps."""
    stats = decoder.stats
    seen = _SeenTimes()
    state = {"last_kept": None, "last_t": None}

    def keep(frames):
        for frame in frames:
            if frame.pts is None:
                # A decoder that drops timestamps: time it from the frame before.
                if state["last_t"] is None:
                    stats.error("frame without a timestamp")
                    continue
                t = state["last_t"] + frame_us
                stats.interpolated += 1
            else:
                t = pts_to_us(frame.pts, tb, origin_us)
            state["last_t"] = t
            _note(frame, t, stats)
            if watch is not None:
                watch(t, frame)
            if not chunk.contains(t) or t == state["last_kept"]:
                continue
            if grid.keep(seen.before(t), t):
                state["last_kept"] = t
                yield t, frame

    for group, following in _lookahead(_groups(packets, tb, origin_us)):
        for g in (group, following):
            for t in g.times if g is not None else ():
                if t is not None:
                    seen.add(t)
        known = [t for t in group.times if t is not None]
        if until is not None and known and min(known) >= until:
            break
        plan = group.plan(grid, seen, chunk, state["last_kept"])
        # Leading frames of an open group reference this group's last pictures.
        needs_all = (following is not None and following.is_open) or watch is not None
        if plan is None or not decoder.skip_nonref or needs_all:
            last = len(group.packets) - 1
        elif plan:
            last = max(i for i, t in enumerate(group.times) if t in plan)
        else:
            stats.skipped_groups += 1
            stats.skipped_packets += len(group.packets)
            continue
        for packet, t in zip(group.packets[: last + 1], group.times):
            yield from keep(decoder.decode(packet, wanted=plan is None or t is None or t in plan))
        stats.skipped_packets += len(group.packets) - 1 - last
        if known:
            seen.prune(min(known))
    yield from keep(decoder.flush())


class _SequentialClock:
    """Times for containers without presentation timestamps: the decoder returns pictures in
    presentation order, so the k-th picture takes the k-th smallest packet timestamp (an AVI
    stores decode-order timestamps only); with no timestamp left, the previous time plus one
    frame duration (counted as interpolated)."""

    def __init__(self, tb, origin_us: int, frame_us: int, stats: VideoDecodeStats):
        self.tb, self.origin_us, self.frame_us, self.stats = tb, origin_us, frame_us, stats
        self.pending: list[int] = []
        self.last: Optional[int] = None
        self.timed = False  # whether any packet had a timestamp

    def add(self, packet) -> None:
        t = None
        if packet.dts is not None:
            t = pts_to_us(packet.dts, self.tb, self.origin_us)
        elif packet.pts is not None:
            t = pts_to_us(packet.pts, self.tb, self.origin_us)
        if t is not None:
            self.timed = True
            heapq.heappush(self.pending, t)

    def next(self) -> Optional[int]:
        if self.pending:
            t = heapq.heappop(self.pending)
        elif self.last is not None:
            t = self.last + self.frame_us
            # A raw stream has no timestamps at all: the frame rate is its only clock.
            self.stats.interpolated += self.timed
        elif not self.timed:
            t = 0
        else:
            return None
        if self.last is not None and t <= self.last:
            t = self.last + 1  # never two frames at one instant
        self.last = t
        return t


def _sequential(
    packets, decoder: _Decoder, grid: FrameGrid, chunk: Chunk, tb, origin_us: int, frame_us: int, watch=None, until=None
):
    """(time, frame) of kept frames, decoding every packet."""
    stats = decoder.stats
    clock = _SequentialClock(tb, origin_us, frame_us, stats)
    prev = None

    def keep(frames):
        nonlocal prev
        for frame in frames:
            t = clock.next()
            if t is None:
                stats.error("frame without a timestamp")
                continue
            _note(frame, t, stats)
            if watch is not None:
                watch(t, frame)
            before, prev = prev, t
            if chunk.contains(t) and grid.keep(before, t):
                yield t, frame

    for packet in packets:
        if not packet.size:
            continue
        clock.add(packet)
        yield from keep(decoder.decode(packet))
        if until is not None and prev is not None and prev >= until:
            return
    yield from keep(decoder.flush())


def _positioned_packets(container, stream, tb, origin_us: int, start_us: int) -> Iterator:
    """Packets from a keyframe strictly before ``start_us`` (so the frame before the chunk is
    known), or from the stream's start."""
    if start_us <= 0:
        yield from demux(container, stream)
        return
    back_us = 1
    while True:
        target = start_us - back_us
        if target <= 0:
            container.seek(0, stream=stream, backward=True)
            yield from demux(container, stream)
            return
        try:
            container.seek(us_to_pts(target, tb, origin_us), stream=stream, backward=True)
        except av.error.FFmpegError as err:
            _LOG.debug("seek failed (%s); decoding from the start", err)
            container.seek(0, stream=stream, backward=True)
            yield from demux(container, stream)
            return
        reader = demux(container, stream)
        head = []
        ok = False
        for packet in reader:
            head.append(packet)
            t = _packet_time(packet, tb, origin_us) if packet.size else None
            if t is not None:
                ok = t < start_us
                break
        if ok or not head:
            yield from head
            yield from reader
            return
        back_us = max(back_us * 4, 2 * US_PER_SECOND)


# A group longer than this (streams with rare or no keyframes) is decoded as it comes instead
# of being planned, so memory stays bounded.
_MAX_GROUP_PACKETS = 1024


@dataclass
class _Group:
    """Packets from one keyframe to the next, with their presentation times."""

    packets: list
    times: list  # presentation time of each packet, or None
    planable: bool = True

    @property
    def is_open(self) -> bool:
        """Whether frames after the keyframe show before it (they reference the group before)."""
        if not self.times or self.times[0] is None:
            return False
        return any(t is not None and t < self.times[0] for t in self.times[1:])

    def plan(self, grid: FrameGrid, seen: _SeenTimes, chunk: Chunk, last_kept: Optional[int]) -> Optional[set]:
        """Times of this group's frames that the keep rule will keep; None when unknown."""
        if not self.planable or any(t is None for t in self.times):
            return None
        return {t for t in sorted(set(self.times)) if chunk.contains(t) and t != last_kept and grid.keep(seen.before(t), t)}


def _groups(packets, tb, origin_us) -> Iterator[_Group]:
    """Packets cut at keyframes; the empty flush packet at the end of a stream is dropped."""
    current = _Group([], [])
    for packet in packets:
        if not packet.size:
            continue
        if packet.is_keyframe and current.packets:
            yield current
            current = _Group([], [])
        current.packets.append(packet)
        current.times.append(_packet_time(packet, tb, origin_us))
        if len(current.packets) >= _MAX_GROUP_PACKETS:
            current.planable = False
            yield current
            current = _Group([], [], planable=False)
    if current.packets:
        yield current


def _lookahead(groups: Iterator[_Group]) -> Iterator[tuple[_Group, Optional[_Group]]]:
    previous = None
    for group in groups:
        if previous is not None:
            yield previous, group
        previous = group
    if previous is not None:
        yield previous, None
