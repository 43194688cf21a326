"""Audio decoding with PyAV: one stream as mono float32 at 16 kHz, in blocks, in one pass.

Timing comes from decoded frames: input sample *n* lies at ``t0 + n / rate``, where ``t0`` is the
first decoded frame's time (probe), and every frame is placed by its own PTS (gaps are filled
with silence and reported). Resampling is a polyphase FIR (``scipy.signal.resample_poly``)
anchored on that sample grid and applied block by block with overlap, so every output sample
equals the one a whole-stream resample would give while memory stays bounded by the block.

Audio is decoded sequentially rather than in seeked chunks: decoders with internal
pseudo-random state (AAC perceptual noise substitution, for one) never return the same samples
after a seek, and audio decoding costs a few seconds per hour, so one exact pass per item is
both cheaper and reproducible.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterator, Optional

import av
import numpy as np

from mmfuse.clock import US_PER_SECOND, format_us
from mmfuse.errors import DecodeError
from mmfuse.transforms.media.probe import demux, ffmpeg_errors, open_container, stream_of

__all__ = ["AudioDecodeStats", "TARGET_RATE", "downmix", "iter_audio_blocks", "iter_window_audio"]

_LOG = logging.getLogger(__name__)
TARGET_RATE = 16000

_INT_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}
_CHANNEL_WEIGHT = {"LFE": 0.0, "LFE2": 0.0, "FC": math.sqrt(0.5), "BC": math.sqrt(0.5)}
_SURROUND = ("BL", "BR", "SL", "SR", "TBL", "TBR", "TFL", "TFR", "TFC", "TC", "TBC")


def _frame_to_float(frame: av.AudioFrame) -> np.ndarray:
    """(channels, samples) float32 in [-1, 1]."""
    data = frame.to_ndarray()
    fmt = frame.format
    channels = len(frame.layout.channels)
    if not fmt.is_planar:
        data = data.reshape(-1, channels).T
    name = fmt.name.rstrip("p")
    if name in _INT_SCALE:
        data = data.astype(np.float32)
        if name == "u8":
            data -= 128.0
        data /= _INT_SCALE[name]
    return data.astype(np.float32, copy=False)


def downmix(data: np.ndarray, channel_names: list[str]) -> np.ndarray:
    """Mono mix: front left/right at 1, centre and surrounds at −3 dB, LFE left out;
    normalised so a signal present in every channel keeps its level."""
    if data.shape[0] == 1:
        return data[0]
    weights = np.array(
        [_CHANNEL_WEIGHT.get(n, math.sqrt(0.5) if n in _SURROUND else 1.0) for n in channel_names],
        dtype=np.float32,
    )
    if weights.sum() <= 0:
        weights = np.ones(len(channel_names), np.float32)
    return (weights / weights.sum()) @ data


@dataclass
class AudioDecodeStats:
    frames: int = 0
    errors: int = 0
    first_error: Optional[str] = None
    end_us: Optional[int] = None
    corrupt_packets: int = 0  # packets the demuxer marked corrupt (damaged or cut-off data)
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        if len(self.warnings) < 20:
            self.warnings.append(message)


def _decoded_frames(container, stream, origin_us: int, stats: AudioDecodeStats, limit_us=None):
    """(media-clock time or None, frame) of every decoded frame, up to the first past
    ``limit_us`` (timestamps that jump far past the file's length would otherwise be filled
    with hours of silence)."""
    tb = stream.time_base
    rate = None
    for packet in demux(container, stream):
        stats.corrupt_packets += bool(packet.size and packet.is_corrupt)
        try:
            frames = packet.decode()
        except av.error.FFmpegError as err:
            stats.errors += 1
            stats.first_error = stats.first_error or f"{type(err).__name__}: {err}"
            continue
        for frame in frames:
            if rate is None:
                rate = frame.sample_rate
            elif frame.sample_rate != rate:
                stats.warn(f"sample rate changed to {frame.sample_rate} Hz; frames skipped")
                continue
            t = None if frame.pts is None else Fraction(frame.pts) * tb - Fraction(origin_us, US_PER_SECOND)
            if t is not None and limit_us is not None and t * US_PER_SECOND > limit_us:
                stats.warn(
                    f"audio timestamps jump to {format_us(int(t * US_PER_SECOND))}, far past the file's length: the rest is ignored"
                )
                return
            yield t, frame


def _iter_mono_frames(container, stream, origin_us: int, t0: Fraction, stats: AudioDecodeStats, limit_us=None):
    """(input sample index, mono samples) of every decoded frame, placed by its PTS.

    Timestamps are only as fine as the time base (1 ms in Matroska): within that, samples
    follow each other. A frame whose timestamp is off by more is placed by it (a real gap or
    overlap, with a warning) unless the next frame's timestamp is where the samples following
    each other put it: then the one timestamp was jitter (WebM muxers round Vorbis and Opus
    frame times to the millisecond and beyond, +10 ms then -10 ms), and nothing moves. Deciding
    that needs the next frame, so frames are placed one frame late."""
    tb = stream.time_base
    slack = None
    expected = None

    def index(t, rate):
        return None if t is None else round((t - t0) * rate)

    def place(t, frame, following):
        nonlocal expected
        n = index(t, frame.sample_rate)
        if n is None:
            n = expected or 0  # raw streams carry no timestamps: samples follow each other
        elif expected is not None and abs(n - expected) > slack:
            nxt = None if following is None else index(following[0], frame.sample_rate)
            if nxt is not None and abs(nxt - (expected + frame.samples)) <= slack:
                n = expected  # jitter: the next frame follows on from the samples before
            else:
                stats.warn(f"audio timestamps jump by {n - expected} samples at {float(t):.3f} s")
        elif expected is not None:
            n = expected
        expected = n + frame.samples
        stats.frames += 1
        stats.end_us = round((t0 + Fraction(n + frame.samples, frame.sample_rate)) * US_PER_SECOND)
        return frame.sample_rate, n, downmix(_frame_to_float(frame), [c.name for c in frame.layout.channels])

    pending = None
    for current in _decoded_frames(container, stream, origin_us, stats, limit_us):
        if slack is None:
            slack = math.ceil(current[1].sample_rate * tb) + 1 if tb else 1
        if pending is not None:
            yield place(*pending, current)
        pending = current
    if pending is not None:
        yield place(*pending, None)


class _BlockResampler:
    """Resamples a growing input buffer block by block. Each output sample is computed from an
    input segment that starts on the filter's phase grid and covers the filter's whole
    support, so it equals the sample a one-shot ``resample_poly`` of the whole stream gives."""

    def __init__(self, in_rate: int, rate: int, block_seconds: float):
        g = math.gcd(in_rate, rate)
        self.up, self.down = rate // g, in_rate // g
        self.margin = -(-10 * max(self.up, self.down) // self.up) + 2
        self.block_out = max(1, int(block_seconds * in_rate) // self.down) * self.up
        # The input buffer grows in place (capacity doubled when full) and is cut from the
        # front after each block: appending a decoded frame by concatenation copied the whole
        # buffer for every frame, quadratic in the block length.
        self._data = np.zeros(1 << 16, np.float32)
        self._len = 0
        self.buf_start = 0  # input index of buf[0]
        self.emitted = 0  # next output index

    @property
    def buf(self) -> np.ndarray:
        return self._data[: self._len]

    @property
    def buf_end(self) -> int:
        return self.buf_start + self._len

    def _grow(self, n: int) -> None:
        """Extend the buffer by ``n`` zero samples."""
        need = self._len + n
        if need > len(self._data):
            data = np.zeros(max(need, 2 * len(self._data)), np.float32)
            data[: self._len] = self._data[: self._len]
            self._data = data
        else:
            self._data[self._len : need] = 0.0
        self._len = need

    def _drop_front(self, k: int) -> None:
        if k <= 0:
            return
        rest = self._len - k
        self._data[:rest] = self._data[k : self._len]
        self._len, self.buf_start = rest, self.buf_start + k

    def _seg_start(self, m: int) -> int:
        return max(0, (m * self.down // self.up - self.margin) // self.down * self.down)

    def _seg_end(self, m_end: int) -> int:
        return -(-m_end * self.down // self.up) + self.margin

    def put(self, n: int, x: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """Place input samples at index ``n``; yield the blocks that became complete."""
        if n + len(x) <= self.buf_start:
            return
        if n < self.buf_start:
            x, n = x[self.buf_start - n :], self.buf_start
        while n > self.buf_end:  # a gap: silence, added a block at a time
            step = min(n - self.buf_end, self.block_out * self.down // self.up)
            self._grow(step)
            yield from self._ready()
        end = n + len(x)
        if end > self.buf_end:
            self._grow(end - self.buf_end)
        self._data[n - self.buf_start : end - self.buf_start] = x
        yield from self._ready()

    def _ready(self) -> Iterator[tuple[int, np.ndarray]]:
        while self.buf_end >= self._seg_end(self.emitted + self.block_out):
            out_end = self.emitted + self.block_out
            yield self._emit(out_end, self._seg_end(out_end))

    def finish(self) -> Iterator[tuple[int, np.ndarray]]:
        out_end = -(-self.buf_end * self.up // self.down)
        if out_end > self.emitted:
            yield self._emit(out_end, self.buf_end)

    def _emit(self, out_end: int, seg_end: int) -> tuple[int, np.ndarray]:
        seg_start = self._seg_start(self.emitted)
        seg = self.buf[seg_start - self.buf_start : seg_end - self.buf_start]
        if self.up == self.down:
            out = seg
        else:
            from scipy.signal import resample_poly  # 1-3 s to import: only when a stream needs it

            out = resample_poly(seg, self.up, self.down)
        m0 = seg_start * self.up // self.down
        first = self.emitted
        block = np.array(out[first - m0 : out_end - m0], dtype=np.float32)  # a copy: the buffer is reused
        self.emitted = out_end
        self._drop_front(self._seg_start(out_end) - self.buf_start)
        return first, block


def iter_audio_blocks(
    uri: str,
    stream_index: int,
    origin_us: int,
    t0: Fraction,
    rate: int = TARGET_RATE,
    block_seconds: float = 10.0,
    stats: Optional[AudioDecodeStats] = None,
    capture_errors: bool = True,
    limit_us: Optional[int] = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Consecutive blocks ``(first output index, samples)`` of the stream at ``rate``, mono,
    sample *m* at ``t0 + m / rate``; together they cover the whole stream once."""
    stats = stats if stats is not None else AudioDecodeStats()
    resampler = None
    with open_container(uri) as container, ffmpeg_errors(capture_errors) as logs:
        stream = stream_of(container, stream_index, uri, "audio")
        for in_rate, n, x in _iter_mono_frames(container, stream, origin_us, t0, stats, limit_us):
            if resampler is None:
                resampler = _BlockResampler(in_rate, rate, block_seconds)
            yield from resampler.put(n, x)
        if logs:
            stats.warn(f"{len(logs)} errors reading the audio ({logs[0][1]}: {logs[0][2].strip()})")
    if resampler is None:
        if stats.errors:
            raise DecodeError(f"{uri}: audio stream {stream_index} did not decode: {stats.first_error}")
        return
    if stats.errors:
        stats.warn(f"{stats.errors} audio packets failed to decode ({stats.first_error})")
    if stats.corrupt_packets:
        stats.warn(f"{stats.corrupt_packets} audio packets marked corrupt by the demuxer (damaged or cut-off data)")
    yield from resampler.finish()


def iter_window_audio(blocks, grid, t0: Fraction, rate: int = TARGET_RATE) -> Iterator[tuple[int, np.ndarray]]:
    """``(window_index, samples)`` for every window that holds audio, in order, from blocks of
    :func:`iter_audio_blocks`: window *i* gets the samples whose time lies in its span."""

    def index_at(t_us: int) -> int:
        return max(0, math.ceil((Fraction(t_us, US_PER_SECOND) - t0) * rate))

    buf = np.zeros(0, np.float32)
    buf_first = 0
    i = 0
    for first, block in blocks:
        if first != buf_first + len(buf):
            raise AssertionError("audio blocks are not contiguous")
        buf = np.concatenate([buf, block]) if len(buf) else block
        while True:
            ws, we = grid.bounds(i)
            lo, hi = index_at(ws), index_at(we)
            if hi > buf_first + len(buf):
                break
            if hi > lo:
                yield i, buf[lo - buf_first : hi - buf_first]
            i += 1
            nxt = index_at(grid.bounds(i)[0])
            if nxt > buf_first:
                cut = min(nxt - buf_first, len(buf))
                buf, buf_first = buf[cut:], buf_first + cut
    end = buf_first + len(buf)
    while True:
        ws, we = grid.bounds(i)
        lo, hi = index_at(ws), min(index_at(we), end)
        if lo >= end:
            return
        if hi > lo:
            yield i, buf[lo - buf_first : hi - buf_first]
        i += 1
