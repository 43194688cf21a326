"""Shot detection on every frame, cue-to-shot assignment by content, quality figures."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import RUNNER, shot_boundaries

from mmfuse.pipelines import extract
from mmfuse.schemas.records import Chunk, Cue
from mmfuse.testing import CONCEPTS, Event, SyntheticSpec, make_media, make_story_set, score_story_set, write_srt
from mmfuse.transforms.align.semantic import assign_cues
from mmfuse.transforms.align.shots import Shot, shots_from_cuts

SCENES = [
    (0.0, CONCEPTS["red"]),
    (1.48, CONCEPTS["green"]),
    (3.0, CONCEPTS["blue"]),
    (4.04, CONCEPTS["yellow"]),
    (6.2, CONCEPTS["purple"]),
    (7.0, CONCEPTS["brown"]),
    (8.12, CONCEPTS["olive"]),
]


@pytest.fixture(scope="module")
def cuts_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("shots") / "cuts.mp4"
    make_media(
        str(path),
        SyntheticSpec(
            duration_s=9, width=128, height=72, noise=6, scenes=tuple(SCENES), flashes=(Event(5.0, 0.08),), audio=False
        ),
    )
    return str(path)


def test_cuts_are_exact_and_a_flash_is_not_a_cut(cuts_video):
    expected = [round(t * 1e6) for t, _ in SCENES[1:]]
    assert shot_boundaries(cuts_video, [Chunk("c", 0, 0, None)]) == expected
    # the same cuts when decoding in chunks whose edges fall near cuts
    chunks = [Chunk("c", 0, 0, 3_020_000), Chunk("c", 1, 3_020_000, 7_000_000), Chunk("c", 2, 7_000_000, None)]
    assert shot_boundaries(cuts_video, chunks) == expected


def test_shots_from_cuts():
    shots = shots_from_cuts([2_000_000, 2_000_000, 5_000_000, 9_000_000], 0, 8_000_000)
    assert [(s.index, s.start_us, s.end_us) for s in shots] == [
        (0, 0, 2_000_000),
        (1, 2_000_000, 5_000_000),
        (2, 5_000_000, 8_000_000),
    ]


def _shots(*bounds):
    return [Shot(i, a, b) for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]


def test_assignment_follows_content_over_wrong_times():
    shots = _shots(0, 2_000_000, 4_000_000, 6_000_000, 8_000_000)
    # cues written 3 s late (more than a shot), each naming shots 0, 1, 2 and 3
    cues = [Cue(3_000_000 + k * 2_000_000, 4_500_000 + k * 2_000_000, f"c{k}") for k in range(4)]
    sim = np.full((4, 4), 0.1)
    np.fill_diagonal(sim, 0.9)
    assert [p.shot_index for p in assign_cues(cues, shots, sim)] == [0, 1, 2, 3]


def test_assignment_skips_a_shot_without_narration_and_keeps_cues_past_the_end():
    shots = _shots(0, 2_000_000, 4_000_000, 6_000_000)
    cues = [Cue(500_000, 1_500_000, "a"), Cue(6_500_000, 7_500_000, "c"), Cue(9_000_000, 9_500_000, "?")]
    sim = np.array([[0.9, 0.1, 0.1], [0.1, 0.1, 0.9], [0.0, 0.0, 0.0]])  # shot 1 has no narration
    placed = assign_cues(cues, shots, sim)
    assert [p.shot_index for p in placed] == [0, 2, 2]
    assert placed[1].time_shift_us < 0  # moved back into the media


def test_assignment_without_evidence_follows_time():
    shots = _shots(0, 2_000_000, 4_000_000)
    cues = [Cue(2_500_000, 3_000_000, "x"), Cue(100_000, 900_000, "y")]
    placed = assign_cues(cues, shots, np.zeros((2, 2)))
    assert [(p.cue_index, p.shot_index, p.time_shift_us) for p in placed] == [(0, 1, 0), (1, 0, 0)]


def test_semantic_alignment_end_to_end(tmp_path):
    truth = make_story_set(str(tmp_path), items=18, held_out=5, seed=3, n_concepts=6)
    out = tmp_path / "out"
    flags = ["--semantic_align", "--fps", "2", "--semantic_min_pairs", "60"]
    code = extract.main(["--manifest", str(tmp_path / "items.jsonl"), "--output", str(out), "--runner", RUNNER, *flags])
    assert code == 0
    result = score_story_set(truth, str(out))
    assert result["right"] / result["total"] >= 0.85, result
    assert result["by_time"] / result["total"] < 0.5  # the held-out times alone are wrong
    assert max(result["cut_errors"]) <= 40_000
    media = {r["media_id"]: r for r in pq.read_table(out / "media").to_pylist()}
    assert all(r["n_shots"] == len(truth[m]["shots"]) for m, r in media.items())
    assert all(r["semantic_score_mean"] is not None and r["semantic_space"] == "fitted" for r in media.values())
    cca = json.loads((out / "artifacts" / "semantic_cca.json").read_text())
    assert cca["kind"] == "cca" and cca["params"]["pairs"] >= 60
    held_out = cca["params"]["held_out_correlations"]
    # colour words and colour histograms do correlate on items the fit did not see
    assert len(held_out) == cca["params"]["dims"] and held_out[0] > 0.5
    # the correlations hold, yet 103 pairs are few: the warning is about the count alone
    assert cca["params"]["warning"].startswith("weak semantic fit: 103 cue/shot pairs (fewer than 200)")
    windows = pq.read_table(out / "windows").to_pylist()
    assert all(w["shot_index"] is not None for w in windows)
    moved = [w for w in windows if w["content_cue_indices"] != w["cue_indices"]]
    assert moved and any(w["content_cue_indices"] for w in moved)
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["quality"]["semantic_score"]["items"] == 18
    assert any(a["name"] == "semantic_cca" for a in run["artifacts"])


def test_quality_figures_in_media(tmp_path):
    video = tmp_path / "v.mp4"
    make_media(str(video), SyntheticSpec(duration_s=4))
    srt = tmp_path / "v.srt"
    write_srt(
        str(srt),
        [(0, 1_000_000, "a"), (500_000, 1_200_000, "b"), (3_000_000, 3_500_000, "c"), (3_600_000, 5_500_000, "past the end")],
    )
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "v", "video": str(video), "transcript": str(srt)}) + "\n")
    assert extract.main(["--manifest", str(manifest), "--output", str(tmp_path / "o"), "--runner", RUNNER, "--shots"]) == 0
    row = pq.read_table(tmp_path / "o" / "media").to_pylist()[0]
    assert (row["n_cue_overlaps"], row["n_cue_gaps"], row["n_cues_clamped"]) == (1, 1, 1)
    assert row["status"] == "ok" and row["n_shots"] == 1
    assert row["av_length_mismatch_us"] is not None and abs(row["av_length_mismatch_us"]) < 100_000
    shots = pq.read_table(tmp_path / "o" / "shots").to_pylist()
    assert [(s["shot_index"], s["start_us"]) for s in shots] == [(0, 0)]


def test_too_few_pairs_refuse_the_fit_and_scores_stay_at_chance(tmp_path):
    make_story_set(str(tmp_path), items=3, held_out=1, seed=4, n_concepts=6)
    out = tmp_path / "out"
    assert (
        extract.main(["--manifest", str(tmp_path / "items.jsonl"), "--output", str(out), "--runner", RUNNER, "--semantic_align"])
        == 0
    )
    assert not (out / "artifacts" / "semantic_cca.npz").exists()
    assert json.loads((out / "artifacts" / "semantic_cca.json").read_text())["fitted"] is False
    run = json.loads((out / "run.json").read_text())
    (report,) = [a for a in run["artifacts"] if a["name"] == "semantic_cca"]
    assert report["refused"] and "--semantic_min_pairs 200" in report["warning"]
    rows = pq.read_table(out / "alignments").to_pylist()
    assert rows and {r["space"] for r in rows} == {"stated_times"}
    # no evidence: every shot ties, so every cue scores exactly chance
    assert {r["score"] for r in rows} == {0.5} and {r["similarity"] for r in rows} == {0.0}


def test_a_resumed_run_whose_fit_was_refused_goes_on(tmp_path):
    # --reduce pca writes artifacts/, which a resumed run applies; semantic_cca is there only as a refusal
    make_story_set(str(tmp_path), items=2, held_out=0, seed=5, n_concepts=4)
    out = tmp_path / "out"
    argv = [
        "--manifest",
        str(tmp_path / "items.jsonl"),
        "--output",
        str(out),
        "--runner",
        RUNNER,
        "--semantic_align",
        "--reduce",
        "pca",
        "--dims",
        "4",
    ]
    assert extract.main(argv) == 0
    assert any((out / "artifacts").glob("*.npz"))
    assert not (out / "artifacts" / "semantic_cca.npz").exists()
    assert extract.main([*argv, "--skip_existing"]) == 0
    assert json.loads((out / "artifacts" / "semantic_cca.json").read_text())["fitted"] is False
    assert extract.main([*argv, "--overwrite", "--artifacts_from", str(out / "artifacts")]) == 0
    assert {r["space"] for r in pq.read_table(out / "alignments").to_pylist()} == {"stated_times"}
    # the refused fit is on record: asking for the fitted space falls back the way a fresh job does
    argv_fitted = [*argv, "--overwrite", "--artifacts_from", str(out / "artifacts"), "--semantic_space", "fitted"]
    assert extract.main(argv_fitted) == 0
    assert {r["space"] for r in pq.read_table(out / "alignments").to_pylist()} == {"stated_times"}
