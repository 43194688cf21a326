"""Chunked decoding gives the same tables as one pass; time offsets survive end to end."""

import json

import pyarrow.parquet as pq
import pytest
from conftest import RUNNER

from mmfuse.pipelines import extract
from mmfuse.testing import Event, SyntheticSpec, make_media


def _run(tmp_path, name, manifest, *flags):
    out = tmp_path / name
    assert extract.main(["--manifest", str(manifest), "--output", str(out), "--runner", RUNNER, *flags]) == 0
    return out


def _rows(out, table="windows"):
    rows = pq.read_table(out / table).to_pylist()
    return sorted(rows, key=lambda r: (r["media_id"], r.get("window_index", r.get("pts_us"))))


@pytest.fixture(scope="module")
def long_item(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chunks")
    video = folder / "long.mp4"
    # 20 s with noise (so AAC uses noise substitution) and events near the chunk edges.
    make_media(
        str(video),
        SyntheticSpec(
            duration_s=20,
            fps=30,
            noise=5,
            gop=45,
            flashes=(Event(6.95, 0.1), Event(14.0, 0.1)),
            tones=(Event(6.9, 0.3), Event(13.95, 0.2)),
        ),
    )
    manifest = folder / "m.jsonl"
    manifest.write_text(json.dumps({"id": "long", "video": str(video)}) + "\n")
    return manifest


def test_windows_do_not_depend_on_chunk_length(tmp_path, long_item):
    flags = ["--window", "1.5", "--hop", "0.5", "--frames_table"]
    short = _run(tmp_path, "c7", long_item, "--chunk_seconds", "7", *flags)
    whole = _run(tmp_path, "c60", long_item, "--chunk_seconds", "60", *flags)
    assert _rows(short) == _rows(whole)
    assert _rows(short, "frames") == _rows(whole, "frames")
    media = pq.read_table(short / "media").to_pylist()[0]
    assert media["n_chunks"] == 3 and media["status"] == "ok"
    assert pq.read_table(whole / "media").to_pylist()[0]["n_chunks"] == 1


def test_every_frame_and_its_exact_time(tmp_path):
    times = [0, 0.04, 0.1, 0.7, 0.71, 1.3, 2.9, 3.0, 3.05]
    video = tmp_path / "vfr.mp4"
    truth = make_media(str(video), SyntheticSpec(duration_s=3.1, frame_times_s=times, audio=False))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "vfr", "video": str(video)}) + "\n")
    out = _run(tmp_path, "all", manifest, "--fps", "0", "--frames_table", "--chunk_seconds", "1")
    frames = _rows(out, "frames")
    assert [f["pts_us"] for f in frames] == [round(t * 1e6) for t in truth["frames_s"]]
    windows = {w["window_index"]: w["n_frames"] for w in _rows(out)}
    assert windows == {0: 5, 1: 1, 2: 1, 3: 2}


@pytest.mark.parametrize("video_start, audio_start", [(1.0, 0.0), (0.0, 2.0)])
def test_a_late_stream_keeps_its_delay(tmp_path, video_start, audio_start):
    video = tmp_path / "late.mp4"
    make_media(
        str(video),
        SyntheticSpec(
            duration_s=5,
            video_start_s=video_start,
            audio_start_s=audio_start,
            flashes=(Event(3.0, 0.2),),
            tones=(Event(4.1, 0.3),),
        ),
    )
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "late", "video": str(video)}) + "\n")
    out = _run(tmp_path, "late", manifest)
    rows = {r["window_index"]: r for r in _rows(out)}
    first_video, first_audio = int(video_start), int(audio_start)
    assert [i for i, r in rows.items() if r["has_video"]][0] == first_video
    assert [i for i, r in rows.items() if r["has_audio"]][0] == first_audio
    bright = [i for i, r in rows.items() if r["visual"] and r["visual"][-2] > 0.5]
    loud = [i for i, r in rows.items() if r["audio"] and max(r["audio"][:64]) > -90]
    assert bright == [3] and loud == [4]
    media = pq.read_table(out / "media").to_pylist()[0]
    assert media["video_start_us"] == video_start * 1e6
    # The first AAC frame holds the encoder's priming, so sound starts up to 1024 samples early.
    assert audio_start * 1e6 - 30_000 <= media["audio_start_us"] <= audio_start * 1e6


def test_decode_tasks_by_kind():
    from fractions import Fraction

    from mmfuse.schemas.records import ItemPlan, MediaInfo, MediaItem, StreamInfo
    from mmfuse.transforms.media.plan import decode_tasks, plan_chunks

    info = MediaInfo(
        MediaItem("a", video_uri="a.mp4"),
        duration_us=25_000_000,
        video=StreamInfo(0, "video", "h264"),
        audio=StreamInfo(1, "audio", "aac"),
        audio_t0=Fraction(0),
    )
    plan = ItemPlan(info, plan_chunks("a", 25_000_000, 10_000_000), n_windows=25)
    every = [(t.kind, t.chunk.index if t.chunk else None) for t in decode_tasks(plan)]
    assert every == [("video", 0), ("video", 1), ("video", 2), ("audio", None)]
    assert [t.kind for t in decode_tasks(plan, "video")] == ["video"] * 3
    assert [t.kind for t in decode_tasks(plan, "audio")] == ["audio"]
