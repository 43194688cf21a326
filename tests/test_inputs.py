import json

import pytest

from mmfuse.errors import InputError
from mmfuse.transforms.inputs.listing import check_glob, check_manifest, media_id_for, parse_manifest_line, sidecar_transcript


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
        ('{"id": "a", "video": "a.mp4", "vidoe": "x"}', "unknown keys"),
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
