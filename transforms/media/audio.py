"""Audio decoding with PyAV: one stream as mono float32 at 16 kHz, in blocks, in one pass.

Timing comes from decoded frames: input sample *n* lies at ``t0 + n / rate``, where ``t0`` is the
first decoded frame's time (probe), and every frame is placed by its own PTS (gaps are filled
with silence and reported). Resampling is soxr's streaming resampler (high quality) fed the
placed samples in order, so every output sample equals the one a whole-stream
``soxr.resample`` would give while memory stays bounded by the block.

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
    """Resamples the placed input samples as one stream, block by block.

    soxr's streaming resampler (the one librosa uses by default) gives exactly the samples a
    one-shot ``soxr.resample`` of the whole stream gives, whatever the chunking, with its delay
    compensated, so output sample *m* lies at ``t0 + m / rate``. The last ``hold`` input samples
    are kept back before they are fed, so that a frame placed a little before the end of the
    ones before it (an overlap) overwrites them; anything earlier has been resampled already and
    is dropped."""

    def __init__(self, in_rate: int, rate: int, block_seconds: float, hold_seconds: float = 1.0):
        import soxr  # imports in milliseconds (scipy.signal, the alternative, takes 1-3 s)

        self.stream = None if in_rate == rate else soxr.ResampleStream(in_rate, rate, 1, dtype="float32", quality="HQ")
        self.block_out = max(1, int(block_seconds * rate))
        self.block_in = max(1, int(block_seconds * in_rate))
        self.hold = int(hold_seconds * in_rate)
        # The pending input grows in place (capacity doubled when full) and is cut from the
        # front when fed: appending each decoded frame by concatenation would copy it all for
        # every frame, quadratic in the block length.
        self._data = np.zeros(1 << 16, np.float32)
        self._len = 0
        self.fed = 0  # input index of the first pending sample
        self._out: list[np.ndarray] = []  # resampled, not yet emitted
        self._out_len = 0
        self.emitted = 0  # output index of the first sample not yet emitted

    @property
    def pending_end(self) -> int:
        return self.fed + self._len

    def _grow(self, n: int) -> None:
        """Extend the pending input by ``n`` zero samples."""
        need = self._len + n
        if need > len(self._data):
            data = np.zeros(max(need, 2 * len(self._data)), np.float32)
            data[: self._len] = self._data[: self._len]
            self._data = data
        else:
            self._data[self._len : need] = 0.0
        self._len = need

    def _feed(self, k: int, last: bool = False) -> None:
        """Resample the first ``k`` pending input samples."""
        x = self._data[:k]
        out = x.copy() if self.stream is None else self.stream.resample_chunk(x, last=last)
        if len(out):
            self._out.append(out)
            self._out_len += len(out)
        rest = self._len - k
        self._data[:rest] = self._data[k : self._len]
        self._len, self.fed = rest, self.fed + k

    def _blocks(self, final: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        while self._out_len >= self.block_out or (final and self._out_len):
            out = np.concatenate(self._out) if len(self._out) > 1 else self._out[0]
            take = min(self.block_out, len(out))
            block, rest = out[:take], out[take:]
            self._out, self._out_len = ([rest] if len(rest) else []), len(rest)
            first, self.emitted = self.emitted, self.emitted + take
            yield first, np.array(block, dtype=np.float32)  # a copy: the output chunk is cut further

    def _settle(self) -> Iterator[tuple[int, np.ndarray]]:
        """Feed what is older than the held-back tail (in pieces of a block at most); yield the
        blocks that became complete."""
        while self._len - self.hold >= min(self.block_in, 4096):
            self._feed(min(self._len - self.hold, self.block_in))
            yield from self._blocks()

    def put(self, n: int, x: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """Place input samples at index ``n``; yield the blocks that became complete."""
        if n + len(x) <= self.fed:
            return
        if n < self.fed:
            x, n = x[self.fed - n :], self.fed
        while n > self.pending_end:  # a gap: silence, added a block at a time
            self._grow(min(n - self.pending_end, self.block_in))
            yield from self._settle()
        end = n + len(x)
        if end > self.pending_end:
            self._grow(end - self.pending_end)
        self._data[n - self.fed : end - self.fed] = x
        yield from self._settle()

    def finish(self) -> Iterator[tuple[int, np.ndarray]]:
        self._feed(self._len, last=True)
        yield from self._blocks(final=True)


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
