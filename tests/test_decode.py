"""Decoding on generated media: exact PTS times, the sampling rule, chunk edges, audio."""

from fractions import Fraction

import av
import numpy as np
import pytest
import soxr

from mmfuse.clock import WindowGrid
from mmfuse.errors import MediaNotFound, NoDecodableStream, UnreadableContainer
from mmfuse.schemas.records import Chunk, MediaItem
from mmfuse.testing import Event, SyntheticSpec, make_media
from mmfuse.transforms.media.audio import AudioDecodeStats, downmix, iter_audio_blocks, iter_window_audio
from mmfuse.transforms.media.probe import probe_media
from mmfuse.transforms.media.video import FrameGrid, VideoDecodeStats, iter_sampled_frames


def _gray(frame):
    return frame.to_ndarray(format="gray")


def _frames(path, chunks, fps, skip=True):
    out = []
    for c in chunks:
        out += [(f.pts_us, f.image) for f in iter_sampled_frames(path, 0, 0, c, fps, _gray, skip_nonref=skip)]
    return out


@pytest.mark.parametrize(
    "prev, t, fps, kept",
    [
        (None, 0, 2, True),
        (None, 700_000, 2, True),  # the first frame of a stream is always kept
        (480_000, 520_000, 2, True),  # grid point 0.5 s lies in (0.48, 0.52]
        (520_000, 560_000, 2, False),
        (460_000, 500_000, 2, True),  # a frame exactly on the grid point is kept
        (500_000, 540_000, 2, False),
        (100, 200, 0, True),  # fps 0 keeps every frame
        (-40_000, 0, 2, True),
        (None, -1, 2, False),  # before the media clock's origin
    ],
)
def test_frame_grid_keep(prev, t, fps, kept):
    assert FrameGrid(fps).keep(prev, t) is kept


def test_all_frames_carry_their_exact_pts(events_video):
    frames = _frames(events_video["video"], [Chunk("e", 0, 0, None)], fps=0)
    expected = [round(t * 1e6) for t in events_video["truth"]["frames_s"]]
    assert [t for t, _ in frames] == expected


def test_sampling_keeps_first_frame_at_or_after_each_grid_point(events_video):
    frames = _frames(events_video["video"], [Chunk("e", 0, 0, None)], fps=2)
    times = [round(t * 1e6) for t in events_video["truth"]["frames_s"]]
    expected = sorted({min(t for t in times if t >= k * 500_000) for k in range(16)})
    assert [t for t, _ in frames] == expected


def test_vfr_frames_are_sampled_by_time_not_index(media_dir):
    times = [0, 0.1, 0.15, 0.9, 1.0, 1.05, 2.6, 2.7, 3.01]
    path = str(media_dir / "vfr.mp4")
    make_media(path, SyntheticSpec(duration_s=3.1, audio=False, frame_times_s=times))
    kept = [t for t, _ in _frames(path, [Chunk("v", 0, 0, None)], fps=2)]
    # grid 0, .5, 1, 1.5, 2, 2.5, 3 -> first frame at or after each
    assert kept == [0, 900_000, 1_000_000, 2_600_000, 3_010_000]


def test_chunk_edges_lose_and_duplicate_nothing(media_dir):
    path = str(media_dir / "chunky.mp4")
    make_media(path, SyntheticSpec(duration_s=9, fps=30, noise=4, gop=45, audio=False))
    whole = _frames(path, [Chunk("c", 0, 0, None)], fps=2)
    parts = _frames(
        path, [Chunk("c", 0, 0, 2_950_000), Chunk("c", 1, 2_950_000, 7_000_000), Chunk("c", 2, 7_000_000, None)], fps=2
    )
    assert [t for t, _ in parts] == [t for t, _ in whole]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(parts, whole))


def test_skipping_nonref_frames_changes_nothing(media_dir):
    path = str(media_dir / "bframes.mp4")
    make_media(path, SyntheticSpec(duration_s=6, fps=30, audio=False))
    stats = VideoDecodeStats()
    fast = [(f.pts_us, f.image) for f in iter_sampled_frames(path, 0, 0, Chunk("b", 0, 0, None), 2, _gray, stats)]
    slow = _frames(path, [Chunk("b", 0, 0, None)], fps=2, skip=False)
    assert [t for t, _ in fast] == [t for t, _ in slow]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(fast, slow))
    assert stats.decoded < 180, "non-reference frames should not have been decoded"


def test_audio_blocks_equal_a_one_shot_resample(events_video):
    path = events_video["video"]
    info = probe_media(MediaItem("e", path))
    with av.open(path) as c:
        raw = np.concatenate([f.to_ndarray()[0] for f in c.decode(audio=0)])
    reference = soxr.resample(raw, 44100, 16000, quality="HQ")
    for block_seconds in (10.0, 0.37):
        stats = AudioDecodeStats()
        blocks = list(iter_audio_blocks(path, info.audio.index, 0, info.audio_t0, block_seconds=block_seconds, stats=stats))
        assert [b[0] for b in blocks] == list(np.cumsum([0] + [len(b[1]) for b in blocks[:-1]]))
        assert np.array_equal(np.concatenate([b for _, b in blocks]), reference)
        assert stats.warnings == []


def test_window_audio_takes_its_own_span(events_video):
    info = probe_media(MediaItem("e", events_video["video"]))
    grid = WindowGrid.from_seconds(1.0, 0.5)
    windows = dict(iter_window_audio(iter_audio_blocks(events_video["video"], 1, 0, info.audio_t0), grid, info.audio_t0))
    assert len(windows[0]) == 16000 and len(windows[3]) == 16000
    # Tone 1 kHz over [3.5, 3.8): loud in windows 6 ([3, 4)) and 7 ([3.5, 4.5)) only.
    energy = {i: float(np.sqrt(np.mean(x**2))) for i, x in windows.items()}
    assert energy[6] > 0.05 and energy[7] > 0.05
    assert energy[5] < 0.01 and energy[8] < 0.01


def test_delayed_audio_keeps_its_delay(media_dir):
    path = str(media_dir / "late_audio.mp4")
    make_media(path, SyntheticSpec(duration_s=4, audio_start_s=1.5, tones=(Event(2.0, 0.2),)))
    info = probe_media(MediaItem("late", path))
    # The muxer's edit list puts the first (priming) sample near 1.476 s; what counts is that
    # the tone written at 2.0 s is found at 2.0 s on the media clock.
    assert Fraction(14, 10) < info.audio_t0 < Fraction(3, 2)
    blocks = iter_audio_blocks(path, info.audio.index, 0, info.audio_t0)
    samples = np.concatenate([b for _, b in blocks])
    onset = np.argmax(np.abs(samples) > 0.1)
    onset_s = float(info.audio_t0) + onset / 16000
    assert abs(onset_s - 2.0) < 0.002
    windows = dict(
        iter_window_audio(
            iter_audio_blocks(path, info.audio.index, 0, info.audio_t0), WindowGrid.from_seconds(1, 1), info.audio_t0
        )
    )
    assert 0 not in windows and 7000 < len(windows[1]) < 8500


def test_downmix_weights():
    stereo = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    assert np.allclose(downmix(stereo, ["FL", "FR"]), [0.5, 0.5])
    five_one = np.ones((6, 4), np.float32)
    assert np.allclose(downmix(five_one, ["FL", "FR", "FC", "LFE", "BL", "BR"]), 1.0)
    lfe_only = np.zeros((6, 1), np.float32)
    lfe_only[3] = 1
    assert np.allclose(downmix(lfe_only, ["FL", "FR", "FC", "LFE", "BL", "BR"]), 0.0)


def test_probe_video_only(video_only):
    info = probe_media(MediaItem("v", video_only))
    assert info.has_video and not info.has_audio
    assert info.duration_us == 3_000_000
    assert info.video.width == 160 and info.video.frame_rate == 30.0


@pytest.mark.parametrize(
    "content, error",
    [
        (b"", UnreadableContainer),
        (b"\x00" * 100, UnreadableContainer),
        (b"RIFF" + bytes(range(256)) * 8, UnreadableContainer),
    ],
)
def test_probe_bad_files(media_dir, content, error):
    path = media_dir / "bad.bin"
    path.write_bytes(content)
    with pytest.raises(error):
        probe_media(MediaItem("bad", str(path)))


def test_probe_missing_file(media_dir):
    with pytest.raises(MediaNotFound, match="no such file"):
        probe_media(MediaItem("gone", str(media_dir / "nope.mp4")))


def test_probe_random_bytes(corrupt_file):
    with pytest.raises((UnreadableContainer, NoDecodableStream)):
        probe_media(MediaItem("c", corrupt_file))
