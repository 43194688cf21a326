import json

import pytest

from mmfuse.errors import InputError
from mmfuse.transforms.inputs.listing import (
    check_glob,
    check_manifest,
    list_glob,
    media_id_for,
    parse_manifest_line,
    sidecar_transcript,
    transcript_language,
)


def test_manifest_line_resolves_relative_paths():
    item = parse_manifest_line('{"id": "a", "video": "v/a.mp4", "transcript": "/abs/a.srt"}', "/data")
    assert item.video_uri == "/data/v/a.mp4"
    assert item.transcript_uri == "/abs/a.srt"
    assert item.audio_uri is None


def test_manifest_audio_only_and_uris():
    item = parse_manifest_line('{"id": "p", "audio": "gs://b/p.m4a"}', "/data")
    assert item.video_uri is None and item.audio_uri == "gs://b/p.m4a"


@pytest.mark.parametrize(
    "line, message",
    [
        ("not json", "not JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"video": "a.mp4"}', "'id' must be a non-empty string"),
        ('{"id": "a"}', "needs 'video' or 'audio'"),
        ('{"id": "a", "video": "a.mp4", "vidoe": "x"}', "unknown key 'vidoe': did you mean 'video'"),
        ('{"id": "a", "video": "a.mp4", "label": {"x": 1}}', "'label' must be a JSON scalar or a list"),
        ('{"id": "a", "video": "a.mp4", "split": 2}', "'split' must be a string"),
        ('{"id": "a", "video": 3}', "'video' must be a path string"),
    ],
)
def test_manifest_line_errors(line, message):
    with pytest.raises(InputError, match=message):
        parse_manifest_line(line, "/data", lineno=4)


def test_manifest_blank_and_comment_lines():
    assert parse_manifest_line("   ", "/d") is None
    assert parse_manifest_line("# a comment", "/d") is None


def test_check_manifest_names_line_of_error_and_duplicates(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"id": "a", "video": "a.mp4"}\n\n{"id": "b", "video": "b.mp4"}\n{"id": "a", "video": "c.mp4"}\n')
    with pytest.raises(InputError, match="line 4: id 'a' already used on line 1"):
        check_manifest(str(path))
    path.write_text('{"id": "a", "video": "a.mp4"}\n{"id": "b"\n')
    with pytest.raises(InputError, match="manifest line 2: not JSON"):
        check_manifest(str(path))


def test_check_manifest_missing_or_empty(tmp_path):
    with pytest.raises(InputError, match="cannot read manifest"):
        check_manifest(str(tmp_path / "none.jsonl"))
    (tmp_path / "e.jsonl").write_text("\n# nothing\n")
    with pytest.raises(InputError, match="lists no items"):
        check_manifest(str(tmp_path / "e.jsonl"))
    (tmp_path / "ok.jsonl").write_text(json.dumps({"id": "x", "video": "x.mp4"}) + "\n")
    assert check_manifest(str(tmp_path / "ok.jsonl")) == 1


def test_glob_ids_and_sidecars(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("a.mp4", "a.vtt", "a.json", "sub/b.mkv", "sub/b.srt", "c.mp4"):
        (tmp_path / name).write_bytes(b"x")
    assert check_glob(str(tmp_path / "**")) == 3
    assert media_id_for(str(tmp_path / "sub" / "b.mkv"), str(tmp_path) + "/**") == "sub/b"
    assert sidecar_transcript(str(tmp_path / "a.mp4")) == str(tmp_path / "a.vtt")  # .vtt before .json
    assert sidecar_transcript(str(tmp_path / "sub" / "b.mkv")) == str(tmp_path / "sub" / "b.srt")
    assert sidecar_transcript(str(tmp_path / "c.mp4")) is None
    with pytest.raises(InputError, match="no media file matches"):
        check_glob(str(tmp_path / "*.avi"))


def test_files_sharing_a_stem_keep_their_extensions_in_ids(tmp_path):
    for name in ("clip.mp4", "clip.mkv", "other.mp4", "clip.srt"):
        (tmp_path / name).write_bytes(b"x")
    pattern = str(tmp_path / "*")
    n, collisions = list_glob(pattern)
    assert n == 3 and collisions == {"clip"}
    ids = {media_id_for(str(tmp_path / f), pattern, collisions) for f in ("clip.mp4", "clip.mkv", "other.mp4")}
    assert ids == {"clip.mp4", "clip.mkv", "other"}


def test_colliding_stems_are_two_items_in_a_job(tmp_path, events_video):
    import shutil

    import pyarrow.parquet as pq
    from conftest import RUNNER

    from mmfuse.pipelines import extract

    shutil.copy(events_video["video"], tmp_path / "talk.mp4")
    shutil.copy(events_video["video"], tmp_path / "talk.mov")
    shutil.copy(events_video["srt"], tmp_path / "talk.en.srt")  # named the yt-dlp way
    out = tmp_path / "out"
    assert extract.main(["--videos", str(tmp_path / "talk.*"), "--output", str(out), "--runner", RUNNER]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["inputs"] == run["config"]["listed_inputs"] == 2
    media = sorted(pq.read_table(out / "media").to_pylist(), key=lambda r: r["media_id"])
    assert [r["media_id"] for r in media] == ["talk.mov", "talk.mp4"]
    assert all(r["transcript_language"] == "en" and r["n_cues"] == 3 for r in media)


def test_a_glob_the_shell_expanded_is_explained():
    from mmfuse.errors import ConfigError
    from mmfuse.pipelines.options import parse_args

    with pytest.raises(ConfigError, match="3 paths follow it: the shell expanded the pattern. Quote it"):
        parse_args(["--videos", "a.mp4", "b.mp4", "c.mp4", "--output", "o"])
    with pytest.raises(ConfigError, match="2 paths follow it"):
        parse_args(["--output", "o", "--videos=a.mp4", "b.mp4"])
    assert parse_args(["--videos", "data/*.mp4", "--output", "o", "--runner", "FnApiRunner"]).videos == "data/*.mp4"


def test_ctrl_c_ends_with_one_line_and_exit_130(tmp_path, events_video):
    import signal

    from conftest import RUNNER, running_job

    lines = [json.dumps({"id": f"v{k}", "video": events_video["video"], "transcript": events_video["srt"]}) for k in range(24)]
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    args = ["--manifest", str(tmp_path / "m.jsonl"), "--output", str(tmp_path / "out"), "--runner", RUNNER]
    args += ["--fps", "0", "--av_sync", "--align_words"]  # long enough to be stopped half way
    with running_job(args) as proc:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    lines = [line for line in err.splitlines() if not line.startswith("mmfuse [")]
    assert proc.returncode == 130 and lines == ["mmfuse: interrupted"], (proc.returncode, err[-2000:])


def test_subtitles_named_with_a_language_are_found(tmp_path):
    for name in ("a.mp4", "a.pt-BR.vtt", "a.en.srt", "b.mp4", "b.fr.srt", "b.notes.srt", "c.mp4", "cc.en.srt"):
        (tmp_path / name).write_bytes(b"x")
    assert sidecar_transcript(str(tmp_path / "a.mp4")) == str(tmp_path / "a.en.srt")  # English first
    assert sidecar_transcript(str(tmp_path / "b.mp4")) == str(tmp_path / "b.fr.srt")  # "notes" is no language
    assert sidecar_transcript(str(tmp_path / "c.mp4")) is None  # cc.en.srt belongs to another stem
    assert transcript_language(str(tmp_path / "a.pt-BR.vtt")) == "pt-BR" and transcript_language("x/a.srt") is None


def test_special_files_and_oversized_transcripts_are_typed_errors_and_never_hang(tmp_path, events_video):
    import os

    import pyarrow.parquet as pq
    from conftest import RUNNER, run_cli

    os.mkfifo(tmp_path / "fifo.mp4")
    os.mkfifo(tmp_path / "fifo.srt")
    (tmp_path / "folder.mp4").mkdir()
    os.symlink("/dev/zero", tmp_path / "zero.srt")
    (tmp_path / "big.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\n" + "word " * 400_000 + "\n")  # 2 MB
    items = [
        {"id": "good", "video": events_video["video"], "transcript": events_video["srt"]},
        {"id": "fifo", "video": str(tmp_path / "fifo.mp4")},
        {"id": "folder", "video": str(tmp_path / "folder.mp4")},
        {"id": "fifo_text", "video": events_video["video"], "transcript": str(tmp_path / "fifo.srt")},
        {"id": "zero_text", "video": events_video["video"], "transcript": str(tmp_path / "zero.srt")},
        {"id": "big_text", "video": events_video["video"], "transcript": str(tmp_path / "big.srt")},
    ]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    out = tmp_path / "out"
    run_cli(
        ["--manifest", str(tmp_path / "m.jsonl"), "--output", str(out), "--runner", RUNNER, "--max_transcript_mb", "1"],
        timeout=180,
    )
    media = {r["media_id"]: r for r in pq.read_table(out / "media").to_pylist()}
    errors = {(r["media_id"], r["stage"]): r["error_type"] for r in pq.read_table(out / "errors").to_pylist()}
    assert media["good"]["status"] == "ok" and media["good"]["n_cues"] == 3
    assert media["fifo"]["status"] == media["folder"]["status"] == "failed"
    assert errors[("fifo", "probe")] == errors[("folder", "probe")] == "not_a_file"
    assert errors[("fifo_text", "transcript")] == errors[("zero_text", "transcript")] == "not_a_file"
    assert errors[("big_text", "transcript")] == "too_large"
    for k in ("fifo_text", "zero_text", "big_text"):  # the item goes on without text
        assert media[k]["status"] == "partial" and media[k]["n_cues"] == 0 and media[k]["n_windows"] == 8


def test_a_picture_over_the_pixel_cap_is_refused_before_decoding(tmp_path, events_video, video_only):
    import pyarrow.parquet as pq
    from conftest import RUNNER

    from mmfuse.errors import InputTooLarge
    from mmfuse.pipelines import extract
    from mmfuse.schemas.records import MediaItem
    from mmfuse.transforms.media.probe import probe_media

    with pytest.raises(InputTooLarge, match=r"video is 160x120 \(0.0 MP\), above --max_megapixels 0.01"):
        probe_media(MediaItem("v", events_video["video"], None, None), max_pixels=10_000)
    items = [{"id": "big", "video": events_video["video"]}, {"id": "audio_only", "audio": events_video["video"]}]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    out = tmp_path / "out"
    argv = ["--manifest", str(tmp_path / "m.jsonl"), "--output", str(out), "--runner", RUNNER, "--max_megapixels", "0.01"]
    assert extract.main(argv) == 0
    media = {r["media_id"]: r for r in pq.read_table(out / "media").to_pylist()}
    errors = {r["media_id"]: r["error_type"] for r in pq.read_table(out / "errors").to_pylist()}
    assert media["big"]["status"] == "failed" and errors["big"] == "too_large"
    assert media["audio_only"]["status"] == "ok"  # the cap is about pictures


def test_a_still_image_bomb_is_refused_before_ffmpeg_opens_it(tmp_path):
    """ffmpeg's probing decodes the first picture: a 16000x16000 RGB PNG takes ~1 GB there."""
    import struct
    import zlib

    from mmfuse.errors import InputTooLarge
    from mmfuse.schemas.records import MediaItem
    from mmfuse.transforms.media.probe import probe_media

    ihdr = struct.pack(">II", 16000, 16000) + bytes([8, 2, 0, 0, 0])
    png = tmp_path / "bomb.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))
    with pytest.raises(InputTooLarge, match=r"picture is 16000x16000 \(256.0 MP\), above --max_megapixels 40"):
        probe_media(MediaItem("bomb", str(png)), max_pixels=40_000_000)


def test_an_object_store_that_cannot_answer_fails_fast_with_one_line(tmp_path):
    """No network or credentials: Beam's GCS client would retry for minutes."""
    import subprocess
    import sys
    import time

    from mmfuse.remote import stores_of

    assert stores_of(["gs://b/x/*.mp4", "gs://b/y.jsonl", "/local/file", "s3://c/m.pt", None]) == {
        "gs://b": "gs://b/x/*.mp4",
        "s3://c": "s3://c/m.pt",
    }
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mmfuse.pipelines.extract",
            "--videos",
            "gs://mmfuse-no-such-bucket/clips/*.mp4",
            "--output",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and time.monotonic() - started < 60, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("mmfuse: error: gs://mmfuse-no-such-bucket/clips/*.mp4"), done.stderr[-2000:]
