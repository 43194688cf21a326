"""--fusion early: per-dimension statistics merged across workers, the fused column of a real
run (standardised parts, presence indicators, layout in metadata), reused with --artifacts_from."""

import json

import numpy as np
import pyarrow.parquet as pq
from conftest import RUNNER

from mmfuse.pipelines import extract
from mmfuse.schemas.tables import read_feature_spec
from mmfuse.testing import SyntheticSpec, make_media, write_srt
from mmfuse.transforms.analyzers.fusion import DiagonalMoments


def test_merged_moments_match_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, size=(1000, 5)) * np.array([1, 10, 0.1, 1e3, 1])
    parts = [DiagonalMoments() for _ in range(3)]
    for k, chunk in enumerate(np.array_split(x, 7)):
        parts[k % 3].add_batch(chunk)
    total = DiagonalMoments()
    for p in parts:
        total.merge_in(p)
    assert total.n == 1000
    np.testing.assert_allclose(total.mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(total.std(), x.std(axis=0), rtol=1e-10)


def test_fused_column_of_a_run(tmp_path):
    lines = []
    for k in range(4):
        spec = SyntheticSpec(duration_s=3 + k, audio=k != 1, seed=k)
        make_media(str(tmp_path / f"v{k}.mp4"), spec)
        entry = {"id": f"v{k}", "video": f"v{k}.mp4"}
        if k % 2 == 0:
            write_srt(str(tmp_path / f"v{k}.srt"), [(0, 2_000_000, f"item {k} speaks")])
            entry["transcript"] = f"v{k}.srt"
        lines.append(json.dumps(entry))
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    base = ["--manifest", str(tmp_path / "m.jsonl"), "--runner", RUNNER, "--fusion", "early"]
    assert extract.main([*base, "--output", str(out)]) == 0
    table = pq.read_table(out / "windows")
    spec = read_feature_spec(table.schema.field("fused"))
    layout = {name: (start, stop) for name, start, stop in spec.config["layout"]}
    widths = {c: read_feature_spec(table.schema.field(c)).dim for c in ("visual", "audio", "text")}
    assert [layout[c][1] - layout[c][0] for c in ("visual", "audio", "text")] == list(widths.values())
    assert spec.dim == sum(widths.values()) + 3 and spec.artifact_hash
    rows = table.to_pylist()
    fused = np.stack([r["fused"] for r in rows])
    for c, flag in (("visual", "has_video"), ("audio", "has_audio"), ("text", "has_text")):
        present = np.array([r[c] is not None for r in rows])
        assert present.any() and (c == "visual" or not present.all())  # v1 has no sound, odd items no text
        np.testing.assert_array_equal(fused[:, layout[f"{c}_present"][0]], present.astype(np.float32))
        assert all(r[flag] == p for r, p in zip(rows, present))
        start, stop = layout[c]
        part = fused[present, start:stop]
        raw = np.stack([r[c] for r in rows if r[c] is not None]).astype(np.float64)
        varying = raw.std(axis=0) > 1e-6
        # standardised over the windows that have the modality; zeros where it is absent
        np.testing.assert_allclose(part.mean(axis=0), 0.0, atol=1e-4)
        np.testing.assert_allclose(part[:, varying].std(axis=0), 1.0, rtol=1e-3)
        np.testing.assert_allclose(part, ((raw - raw.mean(axis=0)) / np.where(varying, raw.std(axis=0), 1.0)), atol=1e-4)
        assert not fused[~present, start:stop].any()
    # the same statistics applied to a run that fits nothing: bit for bit
    again = tmp_path / "again"
    assert extract.main([*base, "--output", str(again), "--artifacts_from", str(out / "artifacts")]) == 0
    key = lambda r: (r["media_id"], r["window_index"])  # noqa: E731
    first = {key(r): r["fused"] for r in rows}
    assert {key(r): r["fused"] for r in pq.read_table(again / "windows").to_pylist()} == first
    run = json.loads((out / "run.json").read_text())
    assert any(a["name"] == "fusion_early" for a in run["artifacts"])
