"""A/V offset on real clips with known shifts (the corpus's videos with their own sound)."""

import json
import shutil

import pyarrow.parquet as pq
import pytest
from conftest import RUNNER

from mmfuse.pipelines import extract
from mmfuse.testing.avclips import edited_clip, plan_segments, shift_audio

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg cuts and remuxes the real clips"),
]

THRESHOLD = 0.5  # README's recommended av_sync_confidence


def test_real_clips_offset_and_confidence(corpus, tmp_path):
    edited = str(tmp_path / "edited.mp4")
    joins = edited_clip(str(corpus), edited, plan_segments(2))
    assert len(joins) == 7
    shift_audio(edited, str(tmp_path / "late.mp4"), 200)
    shift_audio(edited, str(tmp_path / "early.mp4"), -120)
    # a music score that does not follow the picture: no estimate worth trusting
    bunny = str(corpus / "video/moviepy/media/big_buck_bunny_0_30.webm")
    truth = {"edited": 0, "late": 200_000, "early": -120_000}
    manifest = tmp_path / "items.jsonl"
    rows = [{"id": k, "video": str(tmp_path / f"{k}.mp4")} for k in truth] + [{"id": "bunny", "video": bunny}]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    assert extract.main(["--manifest", str(manifest), "--output", str(out), "--runner", RUNNER, "--av_sync"]) == 0
    media = {m["media_id"]: m for m in pq.read_table(out / "media").to_pylist()}
    for key, offset in truth.items():
        m = media[key]
        assert abs(m["av_offset_us"] - offset) <= 40_000, (key, m["av_offset_us"])
        assert m["av_sync_confidence"] >= THRESHOLD, (key, m["av_sync_confidence"])
    assert media["bunny"]["av_sync_confidence"] < THRESHOLD, media["bunny"]
