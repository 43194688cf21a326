"""Analyzers: mergeable statistics, PCA / whitening / ICA, TF-IDF + LSA, artifacts."""

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that
from conftest import RUNNER

from mmfuse.transforms.analyzers.artifacts import Artifact, load_artifact, save_artifact
from mmfuse.transforms.analyzers.combiners import DocFreqFn, MomentsFn, SampleFn
from mmfuse.transforms.analyzers.linear import apply_linear, fit_ica, fit_pca
from mmfuse.transforms.analyzers.quantize import dequantize, quantize8
from mmfuse.transforms.analyzers.stats import Moments
from mmfuse.transforms.analyzers.tfidf import TfidfLsa, fit_tfidf_lsa


def _data(n=2000, d=6, seed=0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) * np.array([5, 3, 2, 1, 0.5, 0.1])[:d]
    return rng.normal(size=(n, d)) @ mixing + np.arange(d)


def _combine(fn, parts):
    accs = []
    for part in parts:
        acc = fn.create_accumulator()
        for x in part:
            acc = fn.add_input(acc, x)
        accs.append(acc)
    return fn.extract_output(fn.merge_accumulators(accs))


def test_moments_by_hand():
    m = _combine(MomentsFn(), [[np.array([1.0, 2.0]), np.array([3.0, 6.0])]])
    mean, cov = m.mean_cov()
    assert m.n == 2 and np.allclose(mean, [2, 4]) and np.allclose(cov, [[1, 2], [2, 4]])


def test_moments_of_nothing():
    m = _combine(MomentsFn(), [[]])
    assert m.n == 0 and fit_pca(m, 3, True, "visual") is None


def test_moments_merge_like_one_pass():
    x = _data()
    one = _combine(MomentsFn(), [list(x)])
    many = _combine(MomentsFn(), [list(x[:7]), list(x[7:1000]), [], list(x[1000:])])
    assert one.n == many.n and np.allclose(one.total, many.total) and np.allclose(one.outer, many.outer, rtol=1e-12)


def test_whitened_pca_is_white():
    x = _data()
    m = Moments()
    m.add_batch(x)
    art = fit_pca(m, 4, True, "visual")
    y = np.stack([apply_linear(art, v) for v in x]).astype(np.float64)
    assert y.shape == (2000, 4)
    assert np.abs(y.mean(axis=0)).max() < 1e-3
    assert np.abs(np.cov(y.T, bias=True) - np.eye(4)).max() < 1e-3
    plain = fit_pca(m, 4, False, "visual")
    v = np.stack([apply_linear(plain, r) for r in x]).astype(np.float64)
    assert np.all(np.diff(v.var(axis=0)) < 0)  # ordered by variance


def test_pca_drops_directions_without_variance():
    x = np.c_[_data(500, 3), np.zeros(500), np.ones(500)]
    m = Moments()
    m.add_batch(x)
    art = fit_pca(m, 5, True, "visual")
    assert art.params["dims"] == 3 and np.isfinite(art.arrays["projection"]).all()


def test_sample_is_the_same_whatever_the_partitioning():
    fn = SampleFn(50, key=lambda e: e[0])
    items = [(("m", i), i) for i in range(1000)]
    a = _combine(fn, [items])
    b = _combine(fn, [items[::3], items[1::3], items[2::3]])
    assert a == b and len(a) == 50


def test_ica_recovers_independent_sources():
    rng = np.random.default_rng(1)
    s = np.c_[np.sign(rng.normal(size=3000)), rng.uniform(-1, 1, 3000)]
    x = s @ np.array([[1.0, 0.5], [0.3, 1.0]])
    m = Moments()
    m.add_batch(x)
    art = fit_ica(m, list(x[:2000]), 2, "audio")
    y = np.stack([apply_linear(art, v) for v in x])
    corr = np.abs(np.corrcoef(np.c_[y, s].T)[:2, 2:])
    assert (corr.max(axis=1) > 0.95).all()
    again = fit_ica(m, list(x[:2000]), 2, "audio")
    assert again.content_hash == art.content_hash


def test_tfidf_lsa():
    docs = [["cat", "sat", "mat"], ["dog", "sat", "log"], ["cat", "dog"], ["cat", "cat", "mat"], ["bird"]] * 4
    df = _combine(DocFreqFn(), [docs])
    art = fit_tfidf_lsa(df, docs, dims=2, max_vocab=10)
    assert "bird" in art.arrays["vocabulary"].tolist()
    f = TfidfLsa(art)
    assert f(["CAT", "sat"]).shape == (2,) and f(["unknown"]) is None


def test_quantize_round_trip():
    x = np.array([-3.0, -2.0, 0.0, 1.0, 2.0, 5.0])
    q = quantize8(x)
    assert q[0] == 0 and q[-1] == 255 and all(0 <= v <= 255 for v in q)
    assert np.abs(dequantize(q)[1:5] - x[1:5]).max() <= 4 / 255


def test_artifact_files_and_hash(tmp_path):
    art = Artifact("visual_pca", "pca", "visual", {"mean": np.zeros(3), "projection": np.eye(3)}, {"dims": 3})
    desc = save_artifact(art, str(tmp_path))
    assert (tmp_path / "visual_pca.npz").exists() and (tmp_path / "visual_pca.json").exists()
    back = load_artifact(str(tmp_path), "visual_pca")
    assert back.content_hash == desc["content_hash"] == art.content_hash
    (tmp_path / "visual_pca.json").write_text((tmp_path / "visual_pca.json").read_text().replace(desc["content_hash"], "0" * 64))
    with pytest.raises(ValueError, match="content hash"):
        load_artifact(str(tmp_path), "visual_pca")


def test_moments_in_a_pipeline():
    x = _data(300)
    with TestPipeline(runner=RUNNER) as p:
        m = p | beam.Create(list(x)) | beam.CombineGlobally(MomentsFn())

        def check(result):
            (moments,) = result
            assert moments.n == 300 and np.allclose(moments.total, x.sum(axis=0))

        assert_that(m, check)


def test_the_tfidf_applier_is_built_once_not_per_row(monkeypatch):
    """Indexing a 20 000-word vocabulary for every window cost ~2 ms a row."""
    from collections import Counter

    import mmfuse.transforms.analyzers.beam as analyzers_beam
    from mmfuse.transforms.analyzers.tfidf import TfidfLsa, fit_tfidf_lsa

    docs = [["red", "boat", "sky"], ["blue", "sky", "boat"], ["green", "tree", "red"], ["boat", "tree", "sky"]] * 3
    df = Counter(w for d in docs for w in set(d))
    artifact = fit_tfidf_lsa((len(docs), dict(df)), docs, 2, 100)
    built = []

    class Counting(TfidfLsa):
        def __init__(self, a):
            built.append(a)
            super().__init__(a)

    monkeypatch.setattr(analyzers_beam, "TfidfLsa", Counting)
    fn = analyzers_beam._ApplyFn()
    fn.setup()
    rows = [{"media_id": "m", "window_index": i, "tokens": d, "text": None} for i, d in enumerate(docs)]
    out = [r for row in rows for r in fn.process(row, 0, text=artifact)]
    assert len(out) == len(rows) and all(r["text"] is not None for r in out)
    assert len(built) == 1
    np.testing.assert_array_equal(out[0]["text"], TfidfLsa(artifact)(docs[0]))
