"""The composed transform under TestPipeline, and the command line end to end."""

import json

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import CUES, RUNNER

from mmfuse.pipelines import extract
from mmfuse.schemas.records import MediaItem
from mmfuse.schemas.tables import read_feature_spec
from mmfuse.settings import ExtractConfig
from mmfuse.transforms.extraction import ExtractFeatures

LUMA = -2  # index of mean luma in the `basic` visual vector


def test_extract_features_transform(events_video, video_only, corrupt_file):
    items = [
        MediaItem("events", events_video["video"], None, events_video["srt"]),
        MediaItem("silent", video_only),
        MediaItem("broken", corrupt_file),
    ]
    with TestPipeline(runner=RUNNER) as p:
        tables = p | beam.Create(items) | ExtractFeatures(ExtractConfig())
        keys = tables["windows"] | "Keys" >> beam.Map(lambda r: (r["media_id"], r["window_index"]))
        assert_that(keys, equal_to([("events", i) for i in range(8)] + [("silent", i) for i in range(3)]), label="windows")
        statuses = tables["media"] | beam.Map(lambda r: (r["media_id"], r["status"]))
        assert_that(statuses, equal_to([("events", "ok"), ("silent", "ok"), ("broken", "failed")]), label="media")
        errors = tables["errors"] | beam.Map(lambda r: (r["media_id"], r["stage"], r["error_type"]))
        assert_that(errors, equal_to([("broken", "probe", "unreadable_container")]), label="errors")


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, events_video, video_only, corrupt_file, damaged_video):
    out = tmp_path_factory.mktemp("cli_out")
    manifest = tmp_path_factory.mktemp("cli_in") / "items.jsonl"
    manifest.write_text(
        "\n".join(
            json.dumps(d)
            for d in (
                {"id": "events", "video": events_video["video"], "transcript": events_video["srt"]},
                {"id": "silent", "video": video_only},
                {"id": "broken", "video": corrupt_file},
                {"id": "missing", "video": "does_not_exist.mp4"},
                {"id": "damaged", "video": damaged_video},
            )
        )
    )
    code = extract.main(["--manifest", str(manifest), "--output", str(out), "--runner", RUNNER])
    return code, out


def _windows(out, media_id):
    table = pq.read_table(out / "windows")
    rows = [r for r in table.to_pylist() if r["media_id"] == media_id]
    return {r["window_index"]: r for r in rows}, table.schema


def test_cli_exit_code_and_counts(cli_run):
    code, out = cli_run
    assert code == 0
    run = json.loads((out / "run.json").read_text())
    c = run["counts"]
    assert (c["inputs"], c["ok"], c["failed"], c["partial"]) == (5, 3, 2, 1)
    assert c["inputs"] == c["ok"] + c["failed"]
    assert c["errors_by_type"] == {"not_found": 1, "unreadable_container": 1}
    assert run["config"]["fps"] == 2.0 and run["versions"]["apache-beam"]


def test_flashes_land_in_their_windows(cli_run):
    _, out = cli_run
    windows, _ = _windows(out, "events")
    luma = {i: w["visual"][LUMA] for i, w in windows.items()}
    bright = {i for i, v in luma.items() if v > 0.5}
    assert bright == {2, 5}, luma  # flashes at 2.0 s and 5.5 s
    assert all(w["n_frames"] == 2 for w in windows.values())


def test_tones_land_in_their_windows(cli_run):
    _, out = cli_run
    windows, _ = _windows(out, "events")
    loudest = {i: max(w["audio"][:64]) for i, w in windows.items()}
    loud = {i for i, v in loudest.items() if v > -90}  # silence sits at the -100 dB floor
    assert loud == {3, 6}, loudest  # tones at 3.5 s and 6.25 s


def test_cues_land_in_every_window_they_overlap(cli_run):
    _, out = cli_run
    windows, _ = _windows(out, "events")
    assert windows[0]["transcript"] == CUES[0][2] and windows[1]["transcript"] == CUES[0][2]
    assert [windows[i]["transcript"] for i in (2, 3, 4)] == [CUES[1][2]] * 3
    assert windows[6]["transcript"] == CUES[2][2] and windows[6]["cue_indices"] == [2]
    assert not windows[5]["has_text"] and windows[5]["text"] is None
    assert windows[2]["tokens"] == ["A", "cue", "over", "three", "windows", "."]
    assert np.isclose(np.linalg.norm(windows[2]["text"]), 1.0)


def test_video_only_item_has_null_audio(cli_run):
    _, out = cli_run
    windows, _ = _windows(out, "silent")
    assert len(windows) == 3
    assert all(not w["has_audio"] and w["audio"] is None and w["has_video"] for w in windows.values())


def test_media_and_errors_tables(cli_run):
    _, out = cli_run
    media = {r["media_id"]: r for r in pq.read_table(out / "media").to_pylist()}
    assert media["events"]["status"] == "ok" and media["events"]["n_windows"] == 8
    assert media["events"]["audio_codec"] == "aac" and media["events"]["video_codec"] == "h264"
    assert {s["kind"] for s in media["events"]["streams"]} == {"video", "audio"}
    assert media["broken"]["status"] == "failed" and media["missing"]["status"] == "failed"
    damaged = media["damaged"]
    assert damaged["status"] == "partial" and damaged["n_warnings"] >= 1 and damaged["n_windows"] >= 6
    errors = {r["media_id"]: r for r in pq.read_table(out / "errors").to_pylist()}
    assert errors["broken"]["error_type"] == "unreadable_container"
    assert errors["missing"]["error_type"] == "not_found" and "does_not_exist.mp4" in errors["missing"]["message"]


def test_feature_columns_say_how_they_were_made(cli_run):
    _, out = cli_run
    _, schema = _windows(out, "events")
    visual = read_feature_spec(schema.field("visual"))
    assert visual.extractor == "basic" and visual.dim == 195
    audio = read_feature_spec(schema.field("audio"))
    assert audio.extractor == "logmel" and audio.config["n_mels"] == 64
    assert read_feature_spec(schema.field("text")).extractor == "hashing"


def test_rerun_needs_overwrite(cli_run, capsys):
    _, out = cli_run
    manifest = out.parent / "again.jsonl"
    manifest.write_text('{"id": "x", "video": "x.mp4"}\n')
    assert extract.main(["--manifest", str(manifest), "--output", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--videos", "x/*.mp4", "--output", "o", "--fps", "-1"], "--fps must be 0"),
        (["--videos", "x/*.mp4", "--output", "o", "--window", "0"], "--window must be positive"),
        (["--output", "o"], "exactly one of --manifest"),
        (["--videos", "/nonexistent/*.mp4", "--output", "o"], "no media file matches"),
        (["--manifest", "/nonexistent/m.jsonl", "--output", "o"], "cannot read manifest"),
        (["--videos", "x/*.mp4", "--output", "o", "--fsp", "2"], "unknown flag --fsp; did you mean --fps"),
    ],
)
def test_bad_flags_stop_before_the_job(args, message, capsys):
    assert extract.main(args) == 2
    assert message in capsys.readouterr().err


def test_cli_with_a_glob_and_sidecar_transcripts(tmp_path, events_video):
    folder = tmp_path / "clips" / "day1"
    folder.mkdir(parents=True)
    import shutil

    shutil.copy(events_video["video"], folder / "talk.mp4")
    (folder / "talk.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nFrom the sidecar file.\n")
    shutil.copy(events_video["video"], folder / "quiet.mp4")
    out = tmp_path / "out"
    assert extract.main(["--videos", str(tmp_path / "clips" / "**" / "*.mp4"), "--output", str(out), "--runner", RUNNER]) == 0
    media = {r["media_id"]: r for r in pq.read_table(out / "media").to_pylist()}
    assert set(media) == {"day1/talk", "day1/quiet"}
    assert media["day1/talk"]["transcript_format"] == "vtt" and media["day1/quiet"]["transcript_uri"] is None
    windows = [w for w in pq.read_table(out / "windows").to_pylist() if w["media_id"] == "day1/talk"]
    assert {w["window_index"] for w in windows if w["has_text"]} == {1, 2}


def test_flags_are_the_settings_grouped_by_stage_and_parse_to_the_defaults():
    from mmfuse.pipelines.options import build_parser, parse_args
    from mmfuse.settings import GROUPS, JobSettings, settings_of

    job = parse_args(["--videos", "clips/*.mp4", "--output", "out/x"])
    assert job.config == ExtractConfig() and job.output == "out/x" and not job.overwrite
    text = build_parser().format_help()
    for klass in (JobSettings, *GROUPS.values()):
        assert klass.__doc__.strip().splitlines()[0].rstrip(".") + ":" in text  # one --help section per stage
        for s in settings_of(klass):
            assert f"--{s.name}" in text
    assert "--decode_threads DECODE_THREADS" in text and "Default 1." in text


def test_settings_by_name_reach_their_group_and_are_checked():
    from mmfuse.errors import ConfigError

    cfg = ExtractConfig.from_flat(fps=1, reduce="pca", align_words=True, semantic_align=True)
    assert cfg.decode.fps == 1 and cfg.analyzers.reduce == "pca" and cfg.align.align_words
    assert cfg.content.shots  # implied by semantic_align
    assert cfg.replace(fps=5).decode.fps == 5 and cfg.replace(fps=5).analyzers == cfg.analyzers
    assert cfg.as_dict()["fps"] == 1 and len(cfg.as_dict()) == 48
    with pytest.raises(ConfigError, match="unknown setting 'fsp'"):
        ExtractConfig.from_flat(fsp=1)
    with pytest.raises(ConfigError, match="--reduce must be one of none, pca, pca_whiten, ica"):
        ExtractConfig.from_flat(reduce="svd")
    with pytest.raises(ConfigError, match="--quantize 8 needs whitened features"):
        ExtractConfig.from_flat(quantize=8, reduce="pca")
