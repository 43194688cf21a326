"""A hostile input set in one job with good items: damaged media in every container, special
files and bombs. The job ends in bounded time with exit 0, accounts for every input, types
every error, reports damage whatever else the job holds, and leaves the good items' rows as a
clean run makes them."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import RUNNER, run_cli

from mmfuse.testing.hostile import make_hostile_set


def _tables(out):
    media = {r["media_id"]: r for r in pq.read_table(out / "media").to_pylist()}
    errors = pq.read_table(out / "errors").to_pylist()
    windows = sorted(pq.read_table(out / "windows").to_pylist(), key=lambda r: (r["media_id"], r["window_index"]))
    return media, errors, windows


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    manifest, cases = make_hostile_set(str(folder / "in"))
    out = folder / "out"
    run_cli(["--manifest", manifest, "--output", str(out), "--runner", RUNNER], timeout=240)
    clean = folder / "clean.jsonl"
    clean.write_text("".join(json.dumps(c.row) + "\n" for c in cases if c.expect == "ok"))
    run_cli(["--manifest", str(clean), "--output", str(folder / "clean"), "--runner", RUNNER], timeout=240)
    return cases, _tables(out), _tables(folder / "clean"), json.loads((out / "run.json").read_text())


def test_every_input_is_accounted_for_and_every_error_typed(hostile):
    cases, (media, errors, _), _, run = hostile
    assert sorted(media) == sorted(c.id for c in cases)
    counts = run["counts"]
    assert counts["inputs"] == counts["ok"] + counts["failed"] == len(cases)
    assert not [e for e in errors if e["error_type"] == "internal_error"], errors
    failed = {m for m, r in media.items() if r["status"] == "failed"}
    assert failed <= {e["media_id"] for e in errors}, "a failed item says why"


def test_damage_is_reported_and_good_items_are_untouched(hostile):
    cases, (media, _, windows), (_, _, clean_windows), _ = hostile
    missed = [c.id for c in cases if c.expect == "damaged" and media[c.id]["status"] == "ok"]
    assert not missed, {m: media[m]["warnings"] for m in missed}
    for c in cases:
        if c.expect == "failed":
            assert media[c.id]["status"] == "failed", (c.id, media[c.id])
        if c.expect == "ok":
            assert media[c.id]["status"] == "ok", (c.id, media[c.id]["warnings"])
    good = {c.id for c in cases if c.expect == "ok"}
    assert [r for r in windows if r["media_id"] in good] == clean_windows


def test_status_does_not_depend_on_the_other_items(hostile):
    cases, (media, _, _), _, _ = hostile
    copies = [media[c.id] for c in cases if c.id.startswith("same_cut_mkv_")]
    assert len(copies) == 3
    assert len({(r["status"], tuple(r["warnings"])) for r in copies}) == 1, [r["warnings"] for r in copies]
    assert copies[0]["status"] == "partial"


def test_named_hostile_cases(hostile):
    _, (media, errors, windows), _, _ = hostile
    wrapped = media["wrapped_flv"]
    assert any("596.52 h" in w for w in wrapped["warnings"]), wrapped["warnings"]
    assert max(r["end_us"] for r in windows if r["media_id"] == "wrapped_flv") <= 5_000_000
    assert any("ends inside a transport-stream packet" in w for w in media["cut50_ts"]["warnings"])
    assert any("header says 4.00 s" in w for w in media["cut50_wav"]["warnings"])
    assert any("cut to that length" in w for w in media["long_cue"]["warnings"])
    by_id = {e["media_id"]: e["error_type"] for e in errors}
    assert by_id["directory"] == "not_a_file" and by_id["transcript_dir"] == "not_a_file"
    assert by_id["cut50_mp4"] == "unreadable_container"


def test_a_stage_that_fails_on_one_item_is_a_dead_letter(tmp_path, monkeypatch, events_video):
    """An unexpected exception in a later stage (here: window text, media row) costs that item
    its rows or its figures, never the job; the error names the stage and the code."""
    import mmfuse.transforms.fuse.beam as fuse_beam
    from mmfuse.pipelines import extract

    real_texts, real_row = fuse_beam.window_texts, fuse_beam.media_row

    def texts(cues, grid, n):
        if any("poison" in c.text for c in cues):
            raise RuntimeError("window text broke")
        return real_texts(cues, grid, n)

    def row(plan, *args):
        if plan.media_id == "bad_row":
            raise KeyError("no such figure")
        return real_row(plan, *args)

    monkeypatch.setattr(fuse_beam, "window_texts", texts)
    monkeypatch.setattr(fuse_beam, "media_row", row)
    poison, fine = tmp_path / "poison.srt", tmp_path / "fine.srt"
    poison.write_text("1\n00:00:01,000 --> 00:00:02,000\npoison here\n")
    fine.write_text("1\n00:00:01,000 --> 00:00:02,000\nall fine\n")
    rows = [
        {"id": "bad_text", "video": events_video["video"], "transcript": str(poison)},
        {"id": "bad_row", "video": events_video["video"], "transcript": str(fine)},
        {"id": "good", "video": events_video["video"], "transcript": str(fine)},
    ]
    manifest = tmp_path / "items.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    assert extract.main(["--manifest", str(manifest), "--output", str(out), "--runner", RUNNER]) == 0
    media, errors, windows = _tables(out)
    by_stage = {(e["media_id"], e["stage"]): e for e in errors}
    assert "window text broke" in by_stage[("bad_text", "window_text")]["message"]
    assert "(at test_hostile.py:" in by_stage[("bad_text", "window_text")]["message"]  # where in the code
    assert media["bad_text"]["status"] == "partial"
    assert ("bad_row", "media_row") in by_stage and media["bad_row"]["status"] == "failed"
    assert media["good"]["status"] == "ok" and any(r["media_id"] == "good" and r["transcript"] for r in windows)
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["inputs"] == run["counts"]["ok"] + run["counts"]["failed"] == 3


def test_a_decode_task_past_its_time_budget_is_a_typed_timeout(tmp_path, events_video):
    out = tmp_path / "out"
    run_cli(["--videos", events_video["video"], "--output", str(out), "--runner", RUNNER, "--task_timeout", "0.001"], timeout=240)
    media, errors, _ = _tables(out)
    assert {e["error_type"] for e in errors} == {"timeout"} and {e["stage"] for e in errors} == {"decode_video", "decode_audio"}
    assert "took over --task_timeout 0.001 s" in errors[0]["message"]
    assert [m["status"] for m in media.values()] == ["partial"]


def test_a_decoder_that_crashes_costs_its_task_only_with_isolate_decode(tmp_path, events_video):
    """The subprocess decoding one item is killed (SIGKILL, as a segfaulting decoder dies); the
    job and the other item go on."""
    import os
    import shutil
    import subprocess
    import sys

    from conftest import ROOT

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("crash", "fine"):
        shutil.copy(events_video["video"], folder / f"{name}.mp4")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "mmfuse.pipelines.extract", "--videos", str(folder / "*.mp4"), "--output", str(out)]
        + ["--runner", RUNNER, "--isolate_decode"],
        cwd=ROOT,
        env={**os.environ, "MMFUSE_FAULT": "decode:crash"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    media, errors, windows = _tables(out)
    assert {e["media_id"] for e in errors} == {"crash"} and {e["error_type"] for e in errors} == {"decoder_crashed"}
    assert media["fine"]["status"] == "ok" and media["crash"]["status"] == "partial"
    fine = [r for r in windows if r["media_id"] == "fine"]
    assert fine and all(r["has_video"] and r["has_audio"] for r in fine)


def test_rows_the_fitted_analyzers_cannot_take_are_dead_letters(tmp_path, monkeypatch, events_video):
    import mmfuse.transforms.analyzers.beam as analyzers_beam
    from mmfuse.pipelines import extract

    real = analyzers_beam._apply

    def apply(row, artifacts, quantize, *rest):
        if row["media_id"] == "bad" and row["window_index"] == 2:
            raise FloatingPointError("projection overflowed")
        return real(row, artifacts, quantize, *rest)

    monkeypatch.setattr(analyzers_beam, "_apply", apply)
    rows = [{"id": k, "video": events_video["video"], "transcript": events_video["srt"]} for k in ("bad", "good")]
    manifest = tmp_path / "items.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    argv = ["--manifest", str(manifest), "--output", str(out), "--runner", RUNNER, "--reduce", "pca", "--dims", "4"]
    assert extract.main(argv) == 0
    media, errors, windows = _tables(out)
    assert [(e["media_id"], e["stage"]) for e in errors] == [("bad", "analyzers")]
    assert "projection overflowed" in errors[0]["message"]
    assert media["bad"]["status"] == "partial" and media["good"]["status"] == "ok"
    assert sorted(r["window_index"] for r in windows if r["media_id"] == "bad") == [0, 1, 3, 4, 5, 6, 7]


def test_an_item_alignment_by_content_cannot_place_is_a_dead_letter(tmp_path, monkeypatch):
    import mmfuse.transforms.align.beam as align_beam
    from mmfuse.pipelines import extract
    from mmfuse.testing import make_story_set

    truth = make_story_set(str(tmp_path), items=4, held_out=0, seed=1, n_concepts=4)
    victim = sorted(truth)[0]
    real = align_beam.assign_cues

    def assign(cues, shots, sim, prior_us):
        if [c.text for c in cues] == [text for _, _, text in truth[victim]["cues"]]:  # the victim's narration
            raise np.linalg.LinAlgError("singular")
        return real(cues, shots, sim, prior_us)

    monkeypatch.setattr(align_beam, "assign_cues", assign)
    out = tmp_path / "out"
    argv = ["--manifest", str(tmp_path / "items.jsonl"), "--output", str(out), "--runner", RUNNER, "--semantic_align"]
    assert extract.main(argv) == 0
    media, errors, _ = _tables(out)
    assert [(e["media_id"], e["stage"]) for e in errors] == [(victim, "content")]
    assert media[victim]["status"] == "partial"
    assert all(m["status"] == "ok" for k, m in media.items() if k != victim)
