"""Cue-to-shot placement by content: calibrated scores, held-out correlations of the fitted
space, refusal below the minimum of pairs, content spans and the window columns."""

import numpy as np
import pytest

from mmfuse.schemas.records import Cue
from mmfuse.transforms.align.placement import annotate_windows, content_span
from mmfuse.transforms.align.semantic import WEAK_FIT, calibrated_score, fit_semantic, held_out_correlations, project
from mmfuse.transforms.align.shots import Shot
from mmfuse.transforms.align.zeroshot import imagenet_classes, zero_shot_similarity


def test_calibrated_score_is_the_share_of_other_shots_below():
    row = np.array([0.2, 0.9, 0.5, 0.5, -0.1])
    assert calibrated_score(row, 1) == 1.0
    assert calibrated_score(row, 4) == 0.0
    assert calibrated_score(row, 2) == 0.625  # above 0.2 and -0.1, tied with one 0.5: (2 + 0.5) / 4
    assert calibrated_score(np.zeros(3), 0) == 0.5
    assert calibrated_score(np.array([0.7]), 0) is None


def _pairs(rng, items, per_item, x_dim=12, y_dim=16, signal=True):
    """(item, (text, picture)) pairs; with ``signal`` both sides share 3 latent factors."""
    out = []
    for i in range(items):
        for _ in range(per_item):
            z = rng.normal(size=3)
            x = rng.normal(size=x_dim) * 0.3
            y = rng.normal(size=y_dim) * 0.3
            if signal:
                x[:3] += z
                y[:3] += z
            out.append((f"item{i}", (x, y)))
    return out


def test_held_out_correlations_see_through_a_fit_that_memorised():
    rng = np.random.default_rng(0)
    noise = _pairs(rng, 5, 4, signal=False)  # 20 pairs, no shared content
    artifact, _ = fit_semantic(noise, dims=4, min_pairs=4, x_name="x", y_name="y")
    assert artifact.arrays["correlations"][0] > 0.8  # in sample: it looks like a fit
    assert max(artifact.params["held_out_correlations"]) < WEAK_FIT  # held out: nothing
    assert "weak semantic fit" in artifact.params["warning"]
    real, _ = fit_semantic(_pairs(rng, 10, 30), dims=4, min_pairs=4, x_name="x", y_name="y")
    held = real.params["held_out_correlations"]
    assert held[0] > 0.8 and held[2] > 0.8 and "warning" not in real.params
    assert held_out_correlations([p for _, p in noise], ["one"] * len(noise), 2) is None  # one item: no folds
    few, _ = fit_semantic(_pairs(rng, 5, 8), dims=4, min_pairs=4, x_name="x", y_name="y")
    assert few.params["held_out_correlations"][0] > 0.8 and "40 cue/shot pairs" in few.params["warning"]


def test_fewer_pairs_than_the_minimum_are_refused():
    rng = np.random.default_rng(1)
    artifact, report = fit_semantic(_pairs(rng, 4, 4), dims=4, min_pairs=17, x_name="x", y_name="y")
    assert artifact is None and report["refused"] and report["pairs"] == 16 and "17" in report["warning"]


def test_a_random_assignment_scores_chance_even_in_a_space_fitted_on_17_pairs():
    rng = np.random.default_rng(2)
    sample = _pairs(rng, 17, 1, signal=False)
    artifact, _ = fit_semantic(sample, dims=4, min_pairs=17, x_name="x", y_name="y")
    scores = []
    for _ in range(300):
        texts = [project(artifact, rng.normal(size=12), "x") for _ in range(6)]
        pictures = [project(artifact, rng.normal(size=16), "y") for _ in range(6)]
        sim = np.array([[t @ p for p in pictures] for t in texts])
        scores += [calibrated_score(sim[i], rng.integers(6)) for i in range(6)]
    assert abs(np.mean(scores) - 0.5) < 0.02


def test_content_span_moves_a_cue_into_its_shot():
    shot = Shot(2, 4_000_000, 6_000_000)
    assert content_span(Cue(8_000_000, 9_000_000, "late"), shot) == (5_000_000, 6_000_000)
    assert content_span(Cue(1_000_000, 1_500_000, "early"), shot) == (4_000_000, 4_500_000)
    assert content_span(Cue(4_200_000, 4_700_000, "inside"), shot) == (4_200_000, 4_700_000)
    assert content_span(Cue(0, 9_000_000, "longer than the shot"), shot) == (4_000_000, 6_000_000)
    assert content_span(Cue(7_000_000, 7_000_000, "an instant"), shot) == (5_999_999, 5_999_999)


def test_windows_get_their_shot_and_the_cues_content_put_there():
    shots = [Shot(0, 0, 2_000_000), Shot(1, 2_000_000, 5_000_000)]
    rows = [{"media_id": "a", "window_index": k, "start_us": k * 1_000_000, "end_us": (k + 1) * 1_000_000} for k in range(6)]
    spans = [(1, 2_500_000, 3_000_000), (0, 0, 1_000_000), (2, 4_000_000, 4_000_000)]
    out = list(annotate_windows(rows, shots, spans, content=True))
    assert [r["shot_index"] for r in out] == [0, 0, 1, 1, 1, None]  # the last window starts past the video
    assert [r["content_cue_indices"] for r in out] == [[0], None, [1], None, [2], None]
    assert all("content_cue_indices" not in r for r in annotate_windows(rows, shots, None, content=False))
    assert {r["content_cue_indices"] for r in annotate_windows(rows, shots, None, content=True)} == {None}


def test_zero_shot_similarity_centres_each_shot_over_the_cues():
    cues = np.array([[1.0, 0.0], [0.0, 1.0]])
    shots = np.array([[0.9, 0.95], [0.1, 0.9]])  # shot 0 is close to every cue (a hub)
    assert np.argmax(cues[1] @ shots.T) == 0  # uncentred, cue 1 prefers the hub
    sim = zero_shot_similarity(cues, shots)
    assert np.argmax(sim[1]) == 1
    np.testing.assert_allclose(sim.sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(zero_shot_similarity(cues[:1], shots), cues[:1] @ shots.T)  # one cue: as is


def test_imagenet_class_names():
    names = imagenet_classes()
    assert len(names) == 1000
    assert (names[0], names[281], names[504], names[999]) == ("tench", "tabby", "coffee mug", "toilet tissue")


@pytest.mark.parametrize("bad", [0, 3])
def test_semantic_min_pairs_is_checked(bad):
    from mmfuse.errors import ConfigError
    from mmfuse.settings import ExtractConfig

    with pytest.raises(ConfigError, match="semantic_min_pairs"):
        ExtractConfig.from_flat(semantic_min_pairs=bad)


def test_zero_shot_needs_the_pretrained_cnn():
    from mmfuse.errors import ConfigError
    from mmfuse.settings import ExtractConfig

    with pytest.raises(ConfigError, match="efficientnet_lite0"):
        ExtractConfig.from_flat(semantic_align=True, semantic_space="zero_shot")
