"""Labels, splits and other facts attached to items reach media/ and windows/, from a
manifest or a labels file beside a glob, and follow a relabelling on resume."""

import json

import pyarrow.parquet as pq
import pytest
from conftest import RUNNER

from mmfuse.errors import InputError
from mmfuse.pipelines import extract
from mmfuse.testing import SyntheticSpec, make_media
from mmfuse.transforms.inputs.labels import check_labels, item_tags, read_labels


def test_item_tags():
    assert item_tags({}) == {"label": None, "split": None, "meta": None}
    tags = item_tags({"label": 3, "split": "train", "speaker": "ann", "topics": ["a", "b"]})
    assert tags["label"] == "3" and tags["split"] == "train"
    assert json.loads(tags["meta"]) == {"label": 3, "split": "train", "speaker": "ann", "topics": ["a", "b"]}
    assert item_tags({"label": "cat"})["label"] == "cat"
    assert item_tags({"label": [1, 2]})["label"] == "[1, 2]"
    with pytest.raises(InputError, match="'x' must be a JSON scalar"):
        item_tags({"x": [{"nested": 1}]})


def test_labels_files(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("id,label,split,note\nclip_a,dog,train,\nclip_b,cat,test,blurry\n")
    tags = dict(read_labels(str(csv)))
    assert tags["clip_a"] == {"label": "dog", "split": "train", "meta": json.dumps({"label": "dog", "split": "train"})}
    assert json.loads(tags["clip_b"]["meta"])["note"] == "blurry"
    assert check_labels(str(csv)) == 2
    jsonl = tmp_path / "labels.jsonl"
    jsonl.write_text('{"id": "a", "label": 1}\n\n{"id": "a", "label": 2}\n')
    with pytest.raises(InputError, match="'a' is given twice"):
        check_labels(str(jsonl))
    bad = tmp_path / "bad.csv"
    bad.write_text("name,label\na,1\n")
    with pytest.raises(InputError, match="one of them 'id'"):
        check_labels(str(bad))
    with pytest.raises(InputError, match=".csv or a .jsonl"):
        check_labels(str(tmp_path / "labels.txt"))


def _columns(out, table):
    return {(r["media_id"], r.get("window_index")): (r["label"], r["split"]) for r in pq.read_table(out / table).to_pylist()}


def test_manifest_keys_reach_media_and_windows_and_follow_a_relabel(tmp_path):
    lines = []
    for k, (label, split) in enumerate([("dog", "train"), (7, "test"), (None, None)]):
        make_media(str(tmp_path / f"v{k}.mp4"), SyntheticSpec(duration_s=2 + k, seed=k))
        extra = {"label": label, "split": split, "speaker": f"s{k}"} if label is not None else {}
        lines.append(json.dumps({"id": f"v{k}", "video": f"v{k}.mp4", **extra}))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    base = ["--manifest", str(manifest), "--output", str(out), "--runner", RUNNER]
    assert extract.main(base) == 0
    media = {r["media_id"]: r for r in pq.read_table(out / "media").to_pylist()}
    assert (media["v0"]["label"], media["v0"]["split"], json.loads(media["v0"]["meta"])["speaker"]) == ("dog", "train", "s0")
    assert (media["v1"]["label"], media["v2"]["label"], media["v2"]["meta"]) == ("7", None, None)
    windows = _columns(out, "windows")
    assert len(windows) >= 2 + 3 + 4
    expected = {"v0": ("dog", "train"), "v1": ("7", "test"), "v2": (None, None)}
    assert all(value == expected[m] for (m, _), value in windows.items())
    # labels change, files do not: the resumed run carries every item and takes the new labels
    manifest.write_text(manifest.read_text().replace('"dog"', '"wolf"'))
    assert extract.main([*base, "--skip_existing"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["skipped"] == 3
    assert {v for (m, _), v in _columns(out, "windows").items() if m == "v0"} == {("wolf", "train")}
    assert _columns(out, "media")[("v0", None)] == ("wolf", "train")


def test_a_labels_file_beside_a_glob(tmp_path):
    for name in ("a", "b"):
        make_media(str(tmp_path / f"{name}.mp4"), SyntheticSpec(duration_s=2, audio=False))
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label,split\na,yes,train\nnot_there,no,test\n")
    out = tmp_path / "out"
    argv = ["--videos", str(tmp_path / "*.mp4"), "--labels_file", str(labels), "--output", str(out), "--runner", RUNNER]
    assert extract.main(argv) == 0
    media = {r["media_id"]: (r["label"], r["split"]) for r in pq.read_table(out / "media").to_pylist()}
    assert media == {"a": ("yes", "train"), "b": (None, None)}
    assert {v for (m, _), v in _columns(out, "windows").items() if m == "a"} == {("yes", "train")}
    assert extract.main(["--manifest", str(tmp_path / "m.jsonl"), "--labels_file", str(labels), "--output", str(out)]) == 2
