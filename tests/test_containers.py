"""Containers and codecs that ffmpeg reads, made here, and every class of bad input."""

import os
import shutil

import numpy as np
import pytest

from mmfuse.errors import NoDecodableStream, UnreadableContainer
from mmfuse.schemas.records import Chunk, MediaItem
from mmfuse.testing import Event, SyntheticSpec, make_media
from mmfuse.transforms.media.probe import probe_media
from mmfuse.transforms.media.video import VideoDecodeStats, iter_sampled_frames

CASES = [
    # container, video codec, audio codec, pixel format
    ("mov", "libx264", "aac", "yuv420p"),
    ("matroska", "libx265", "flac", "yuv420p"),
    ("webm", "libvpx", "libopus", "yuv420p"),
    ("webm", "libvpx-vp9", "libopus", "yuv420p"),
    ("matroska", "libsvtav1", "aac", "yuv420p"),
    ("avi", "libx264", "pcm_s16le", "yuv420p"),  # B-frames packed in AVI: no PTS stored
    ("avi", "mpeg4", "mp3", "yuv420p"),
    ("avi", "msmpeg4", "pcm_s16le", "yuv420p"),
    ("avi", "mjpeg", None, "yuvj420p"),
    ("avi", "cinepak", None, "rgb24"),
    ("mpeg", "mpeg2video", "mp2", "yuv420p"),  # MPEG program stream
    ("mpegts", "libx264", "aac", "yuv420p"),  # non-zero container start
    ("flv", "libx264", "aac", "yuv420p"),
]
EXT = {"matroska": "mkv", "mpeg": "mpg", "mpegts": "ts"}


def _make(folder, fmt, vcodec, acodec, pix_fmt, **extra):
    path = os.path.join(folder, f"{vcodec}.{EXT.get(fmt, fmt)}")
    spec = SyntheticSpec(
        duration_s=2,
        width=64,
        height=48,
        fps=25,
        video_codec=vcodec,
        audio=acodec is not None,
        audio_codec=acodec or "aac",
        sample_rate=48000 if acodec in ("libopus", "mp2") else 44100,
        pix_fmt=pix_fmt,
        flashes=(Event(1.0, 0.12),),
        **extra,
    )
    make_media(path, spec, container_format=fmt)
    return path


def _luma(frame):
    return float(frame.to_ndarray(format="gray").mean())


@pytest.mark.parametrize("fmt, vcodec, acodec, pix_fmt", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_container_and_codec(tmp_path, fmt, vcodec, acodec, pix_fmt):
    path = _make(str(tmp_path), fmt, vcodec, acodec, pix_fmt)
    info = probe_media(MediaItem("x", path))
    assert info.has_video and info.has_audio == (acodec is not None)
    stats = VideoDecodeStats()
    frames = list(iter_sampled_frames(path, info.video.index, info.video_origin_us, Chunk("x", 0, 0, None), 0, _luma, stats))
    times = [f.pts_us for f in frames]
    assert len(times) == 50 and stats.warnings() == ()
    # Every frame 40 ms after the one before, whatever the container stores.
    assert set(np.diff(times)) == {40_000}
    # The flash written at 1.0 s is seen at 1.0 s after the video's first frame.
    flash = [f.pts_us - times[0] for f in frames if f.image > 200]
    assert flash[0] == 1_000_000


def test_mpegts_start_is_the_media_clock_origin(tmp_path):
    path = _make(str(tmp_path), "mpegts", "libx264", "aac", "yuv420p")
    info = probe_media(MediaItem("ts", path))
    assert info.video_origin_us > 0  # the container starts later than 0 in its own timestamps
    first = next(iter_sampled_frames(path, info.video.index, info.video_origin_us, Chunk("x", 0, 0, None), 0, lambda f: None))
    assert 0 <= first.pts_us < 100_000  # video starts just after the audio, near 0:00


def test_raw_h264_without_timestamps_is_timed_by_frame_rate(tmp_path):
    path = str(tmp_path / "stream.h264")
    make_media(path, SyntheticSpec(duration_s=2, width=64, height=48, fps=25, audio=False), container_format="h264")
    info = probe_media(MediaItem("raw", path))
    stats = VideoDecodeStats()
    times = [
        f.pts_us for f in iter_sampled_frames(path, 0, info.video_origin_us, Chunk("r", 0, 0, None), 0, lambda f: None, stats)
    ]
    assert len(times) == 50 and set(np.diff(times)) == {40_000}


@pytest.fixture(scope="module")
def good_mp4(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    path = str(folder / "good.mp4")
    make_media(path, SyntheticSpec(duration_s=6, width=96, height=64, noise=6, flashes=(Event(1.0, 0.1),)))
    return path


def _variant(src: str, name: str, mutate) -> str:
    data = bytearray(open(src, "rb").read())
    out = os.path.join(os.path.dirname(src), name)
    with open(out, "wb") as f:
        f.write(mutate(data))
    return out


@pytest.mark.parametrize(
    "name, mutate, error",
    [
        ("zero.mp4", lambda d: b"", UnreadableContainer),
        ("random.mp4", lambda d: os.urandom(len(d)), UnreadableContainer),
        ("cut_index.mp4", lambda d: d[: len(d) // 2], UnreadableContainer),  # the index (moov) is at the end
    ],
)
def test_unreadable_files(good_mp4, name, mutate, error):
    with pytest.raises(error):
        probe_media(MediaItem("bad", _variant(good_mp4, name, mutate)))


def test_subtitle_file_posing_as_video(tmp_path):
    path = tmp_path / "fake.mp4"
    path.write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n")
    with pytest.raises(NoDecodableStream):
        probe_media(MediaItem("fake", str(path)))


def test_wrong_extension_still_decodes(tmp_path):
    path = _make(str(tmp_path), "matroska", "libx264", "aac", "yuv420p")
    renamed = str(tmp_path / "actually_mkv.mp4")
    shutil.move(path, renamed)
    info = probe_media(MediaItem("mkv", renamed))
    assert "matroska" in info.container_format and info.video.codec == "h264"


def test_truncated_stream_decodes_what_is_there(tmp_path):
    src = str(tmp_path / "full.mkv")
    make_media(src, SyntheticSpec(duration_s=6, width=96, height=64, noise=6), container_format="matroska")
    cut = _variant(src, "cut.mkv", lambda d: d[: int(len(d) * 0.5)])
    info = probe_media(MediaItem("cut", cut))
    stats = VideoDecodeStats()
    frames = list(iter_sampled_frames(cut, info.video.index, 0, Chunk("c", 0, 0, None), 2, lambda f: None, stats))
    assert 2 <= len(frames) < 12
    assert stats.end_us < 5_000_000


def test_damaged_middle_keeps_the_rest(tmp_path):
    src = str(tmp_path / "full.mkv")
    make_media(src, SyntheticSpec(duration_s=6, width=96, height=64, noise=6, gop=25), container_format="matroska")

    def damage(d):
        n = len(d)
        d[int(n * 0.45) : int(n * 0.55)] = os.urandom(int(n * 0.55) - int(n * 0.45))
        return d

    bad = _variant(src, "damaged.mkv", damage)
    info = probe_media(MediaItem("d", bad))
    stats = VideoDecodeStats()
    frames = [f.pts_us for f in iter_sampled_frames(bad, info.video.index, 0, Chunk("d", 0, 0, None), 2, lambda f: None, stats)]
    assert frames[0] == 0 and frames[-1] >= 5_000_000  # before and after the damage
    assert stats.warnings(), "the damage must be reported"


def test_millisecond_audio_timestamps_are_not_gaps(tmp_path):
    """Matroska stores times in ms: AAC frames of 23.22 ms get timestamps off by up to half a
    millisecond, which must not become clicks of silence or overlaps."""
    import av
    import soxr

    from mmfuse.transforms.media.audio import AudioDecodeStats, iter_audio_blocks

    path = _make(str(tmp_path), "matroska", "libx264", "aac", "yuv420p")
    info = probe_media(MediaItem("mkv", path))
    assert info.audio.time_base == 1 / 1000 or str(info.audio.time_base) == "1/1000"
    stats = AudioDecodeStats()
    got = np.concatenate([b for _, b in iter_audio_blocks(path, info.audio.index, 0, info.audio_t0, stats=stats)])
    with av.open(path) as c:
        raw = np.concatenate([f.to_ndarray()[0] for f in c.decode(audio=0)])
    assert stats.warnings == []
    assert np.array_equal(got, soxr.resample(raw, 44100, 16000, quality="HQ"))


def test_wav_header_states_its_length():
    import struct

    from mmfuse.transforms.media.declared import wav_data_seconds

    def header(data_size, byte_rate=88200):
        fmt = struct.pack("<HHIIHH", 1, 1, 44100, byte_rate, 2, 16)
        return (
            b"RIFF"
            + struct.pack("<I", (36 + data_size) & 0xFFFFFFFF)
            + b"WAVE"
            + b"fmt "
            + struct.pack("<I", 16)
            + fmt
            + b"data"
            + struct.pack("<I", data_size)
        )

    assert wav_data_seconds(header(88200 * 6)) == 6.0
    assert wav_data_seconds(header(0xFFFFFFFF)) is None  # streamed WAV: no length stated
    assert wav_data_seconds(b"not a riff header at all") is None


def test_still_image_size_is_read_from_the_header():
    import struct
    import zlib

    import cv2
    import numpy as np

    from mmfuse.transforms.media.declared import still_image_size

    ihdr = struct.pack(">II", 16000, 12000) + bytes([8, 2, 0, 0, 0])
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    assert still_image_size(png) == (16000, 12000)
    ok, jpeg = cv2.imencode(".jpg", np.zeros((48, 64, 3), np.uint8))
    assert ok and still_image_size(jpeg.tobytes()) == (64, 48)
    assert still_image_size(b"\x00\x00\x00\x18ftypmp42") is None


def test_a_stated_length_the_file_cannot_hold_is_cut(tmp_path):
    """FLV metadata claiming 596 hours for a 6 s file: windows up to that length would be
    millions of empty rows."""
    import struct

    path = str(tmp_path / "meta.flv")
    make_media(path, SyntheticSpec(duration_s=6, width=96, height=64), container_format="flv")
    data = bytearray(open(path, "rb").read())
    at = data.find(b"duration") + len(b"duration") + 1  # an AMF0 number follows its name
    assert struct.unpack(">d", data[at : at + 8])[0] == pytest.approx(6.0, abs=0.2)
    data[at : at + 8] = struct.pack(">d", 596.5 * 3600)
    with open(path, "wb") as f:
        f.write(data)
    info = probe_media(MediaItem("m", path))
    assert info.duration_us <= len(data) // 100 * 1_000_000
    assert any("596.5 h is more than" in w for w in info.warnings), info.warnings
