"""python -m mmfuse.pipelines.train on a labelled run where fusion has to matter: the class is
(bright or dark picture) × (high or low tone), so each modality alone tells only half of it."""

import json

import numpy as np
import pytest
from conftest import RUNNER

from mmfuse.data import load_windows
from mmfuse.pipelines import extract, train
from mmfuse.testing import Event, SyntheticSpec, make_media
from mmfuse.train.comparison import split_by_item

CLASSES = {"bright_high": (200, 1500.0), "bright_low": (200, 300.0), "dark_high": (40, 1500.0), "dark_low": (40, 300.0)}


@pytest.fixture(scope="module")
def labelled_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(0)
    lines = []
    for name, (level, freq) in CLASSES.items():
        for k in range(5):
            grey = int(level + rng.integers(-15, 16))
            spec = SyntheticSpec(
                duration_s=2,
                width=64,
                height=48,
                fps=10,
                scenes=((0.0, (grey, grey, grey)),),
                tones=(Event(0.0, 2.0, freq * (1 + 0.05 * rng.normal())),),
                seed=int(rng.integers(1000)),
            )
            make_media(str(folder / f"{name}_{k}.mp4"), spec)
            lines.append(json.dumps({"id": f"{name}_{k}", "video": f"{name}_{k}.mp4", "label": name}))
    (folder / "m.jsonl").write_text("\n".join(lines) + "\n")
    out = folder / "out"
    argv = ["--manifest", str(folder / "m.jsonl"), "--output", str(out), "--runner", RUNNER, "--fusion", "early"]
    assert extract.main(argv) == 0
    return out


def test_the_split_is_by_item(labelled_run):
    w = load_windows(str(labelled_run))
    test, how = split_by_item(w, 0.3, seed=1)
    assert set(w.media_id[test]).isdisjoint(w.media_id[~test]) and "items" in how
    held = {m.rsplit("_", 1)[0] for m in w.media_id[test]}
    assert held == set(CLASSES)  # stratified: every class is held out


def test_fusion_beats_each_modality_alone(labelled_run, capsys):
    assert train.main([str(labelled_run), "--epochs", "40", "--sequence", "--seed", "1"]) == 0
    metrics = json.loads((labelled_run / "train" / "metrics.json").read_text())
    assert set(metrics) == {"visual", "audio", "text", "early", "intermediate", "intermediate_gru", "late"} - {"text"}
    assert all(set(m) == {"accuracy", "precision", "recall", "f1"} for m in metrics.values())
    # each modality alone tells two of the four classes apart: about half right
    assert max(metrics["visual"]["accuracy"], metrics["audio"]["accuracy"]) <= 0.75
    for name in ("early", "intermediate", "intermediate_gru", "late"):
        assert metrics[name]["accuracy"] >= 0.85, (name, metrics)
    report = json.loads((labelled_run / "train" / "report.json").read_text())
    assert report["early_input"] == "the fused column" and report["classes"] == sorted(CLASSES)
    assert (labelled_run / "train" / "confusion.png").stat().st_size > 5000
    assert "fusion vs the best single modality" in capsys.readouterr().out


def test_a_run_without_labels_is_a_clear_error(tmp_path, capsys):
    make_media(str(tmp_path / "a.mp4"), SyntheticSpec(duration_s=1))
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "a", "video": "a.mp4"}) + "\n")
    assert extract.main(["--manifest", str(tmp_path / "m.jsonl"), "--output", str(tmp_path / "o"), "--runner", RUNNER]) == 0
    assert train.main([str(tmp_path / "o")]) == 2
    assert "no window has a label" in capsys.readouterr().err
