"""mmfuse.data: a run's windows as arrays, masks and labels, quality gates, PyTorch datasets
(map-style, per-item sequences, streaming over shards with DataLoader workers), and the
recipes for pandas, polars, DuckDB and Hugging Face datasets."""

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from conftest import RUNNER

from mmfuse.data import Gates, feature_widths, fill_missing, load_windows
from mmfuse.pipelines import extract
from mmfuse.schemas.tables import FeatureSpec, media_schema, windows_schema
from mmfuse.testing import SyntheticSpec, make_media, write_srt


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real run: a labelled video with subtitles, a silent video, an audio-only item, an
    unlabelled item and a file that fails."""
    folder = tmp_path_factory.mktemp("data")
    make_media(str(folder / "talk.mp4"), SyntheticSpec(duration_s=4, seed=1))
    write_srt(str(folder / "talk.srt"), [(500_000, 1_500_000, "hello there"), (2_000_000, 3_000_000, "and goodbye")])
    make_media(str(folder / "silent.mp4"), SyntheticSpec(duration_s=3, audio=False, seed=2))
    make_media(str(folder / "sound.wav"), SyntheticSpec(duration_s=3, video=False, seed=3), container_format="wav")
    make_media(str(folder / "other.mp4"), SyntheticSpec(duration_s=2, seed=4))
    lines = [
        {"id": "talk", "video": "talk.mp4", "transcript": "talk.srt", "label": "speech", "split": "train"},
        {"id": "silent", "video": "silent.mp4", "label": "quiet", "split": "test"},
        {"id": "sound", "audio": "sound.wav", "label": "speech", "split": "train"},
        {"id": "other", "video": "other.mp4"},
        {"id": "broken", "video": "missing.mp4", "label": "quiet"},
    ]
    (folder / "m.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = folder / "out"
    assert extract.main(["--manifest", str(folder / "m.jsonl"), "--output", str(out), "--runner", RUNNER]) == 0
    return out


def _rows(out):
    return {(r["media_id"], r["window_index"]): r for r in pq.read_table(out / "windows").to_pylist()}


def test_load_windows_gives_matrices_masks_and_labels(run):
    w = load_windows(str(run), media_columns=["duration_us", "warnings", "split"])
    rows = _rows(run)
    assert len(w) == len(rows) and {m for m in w.media_id} == {"talk", "silent", "sound", "other"}
    widths = feature_widths(pq.read_schema(next((run / "windows").glob("*.parquet"))))
    assert all(w.features[c].shape == (len(w), widths[c]) and w.features[c].dtype == np.float32 for c in ("visual", "audio"))
    for i in range(len(w)):
        row = rows[(w.media_id[i], int(w.window_index[i]))]
        assert (w.masks["visual"][i], w.masks["audio"][i], w.masks["text"][i]) == (
            row["has_video"],
            row["has_audio"],
            row["has_text"],
        )
        for c in ("visual", "audio", "text"):
            expected = np.zeros(widths[c], np.float32) if row[c] is None else np.asarray(row[c], np.float32)
            np.testing.assert_array_equal(w.features[c][i], expected)
        assert w.start_us[i] == row["start_us"] and w.end_us[i] == row["end_us"]
    assert w.classes == ("quiet", "speech")
    by_item = {m: set(w.labels[w.media_id == m]) for m in set(w.media_id)}
    assert by_item == {"talk": {1}, "sound": {1}, "silent": {0}, "other": {-1}}
    # media columns of any type (a list column too) join by item
    assert all(isinstance(v, np.ndarray) or v is None for v in w.columns["warnings"])
    assert set(w.columns["split"][w.media_id == "silent"]) == {"test"}
    assert w.columns["duration_us"][w.media_id == "talk"][0] == 4_000_000


def test_gates_and_requirements(run):
    assert set(load_windows(str(run), gates=Gates(splits=("train",))).media_id) == {"talk", "sound"}
    # an item without the figure (no transcript, no audio) is dropped by a gate on it
    assert set(load_windows(str(run), gates=Gates(min_av_sync_confidence=0.0)).media_id) <= {"talk", "other"}
    assert set(load_windows(str(run), require=("visual", "audio")).media_id) == {"talk", "other"}
    assert len(load_windows(str(run), gates=Gates(status=("failed",)))) == 0
    with pytest.raises(ValueError, match="no columns"):
        load_windows(str(run), media_columns=["nope"])


def test_torch_datasets(run):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from mmfuse.data.torchsets import SequenceDataset, WindowDataset, pad_sequences

    w = load_windows(str(run))
    batch = next(iter(DataLoader(WindowDataset(w), batch_size=len(w))))
    assert batch["visual"].shape == w.features["visual"].shape and batch["visual_mask"].dtype == torch.bool
    assert torch.equal(batch["label"], torch.from_numpy(w.labels))
    seqs = SequenceDataset(w)
    assert len(seqs) == 4
    padded = next(iter(DataLoader(seqs, batch_size=4, collate_fn=pad_sequences)))
    lengths = {m: int((w.media_id == m).sum()) for m in padded["media_id"]}
    assert padded["lengths"].tolist() == [lengths[m] for m in padded["media_id"]]
    t_max = max(lengths.values())
    assert padded["audio"].shape[:2] == (4, t_max) and padded["padding_mask"].shape == (4, t_max)
    assert padded["padding_mask"].sum().item() == 4 * t_max - sum(lengths.values())
    item = padded["media_id"].index("talk")
    order = np.argsort(w.window_index[w.media_id == "talk"])
    np.testing.assert_array_equal(
        padded["visual"][item, : lengths["talk"]].numpy(), w.features["visual"][w.media_id == "talk"][order]
    )


def _synthetic_run(folder, files=3, groups=4, rows=50, dims=(6, 4, 3)):
    """A run folder whose windows/ has several files of several row groups, some rows without
    audio; media/ marks one item failed."""
    specs = {c: FeatureSpec("x", d) for c, d in zip(("visual", "audio", "text"), dims)}
    schema = windows_schema(specs)
    rng = np.random.default_rng(0)
    (folder / "windows").mkdir(parents=True)
    (folder / "media").mkdir()
    ids = []
    for f in range(files):
        with pq.ParquetWriter(folder / "windows" / f"part-{f:05d}-of-{files:05d}.parquet", schema) as writer:
            for g in range(groups):
                media = f"m{f}_{g}"
                ids.append(media)
                audio = [None if i % 7 == 0 else rng.normal(size=dims[1]).astype(np.float32) for i in range(rows)]
                batch = {
                    "media_id": [media] * rows,
                    "window_index": list(range(rows)),
                    "start_us": [i * 1_000_000 for i in range(rows)],
                    "end_us": [(i + 1) * 1_000_000 for i in range(rows)],
                    "has_video": [True] * rows,
                    "has_audio": [a is not None for a in audio],
                    "has_text": [False] * rows,
                    "n_frames": [1] * rows,
                    "visual": [rng.normal(size=dims[0]).astype(np.float32) for _ in range(rows)],
                    "audio": audio,
                    "label": [str(g % 2)] * rows,
                }
                table = pa.table({n: pa.array(batch.get(n, [None] * rows), type=schema.field(n).type) for n in schema.names})
                writer.write_table(table.cast(schema), row_group_size=rows)
    media = [{"media_id": m, "status": "failed" if m == "m0_0" else "ok", "label": m[-1]} for m in ids]
    mschema = media_schema()
    pq.write_table(
        pa.Table.from_pylist([{n: r.get(n) for n in mschema.names} for r in media], schema=mschema),
        folder / "media" / "part-0.parquet",
    )
    return ids


def test_streaming_splits_row_groups_across_workers_exactly_once(tmp_path):
    pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from mmfuse.data.torchsets import StreamingWindows

    ids = _synthetic_run(tmp_path)
    stream = StreamingWindows(str(tmp_path), shuffle=True, seed=3)
    assert len(stream.units) == 12
    seen = []
    for batch in DataLoader(stream, batch_size=16, num_workers=2):
        seen += list(zip(batch["media_id"], batch["window_index"].tolist()))
        assert batch["visual"].shape[1:] == (6,) and batch["audio"].shape[1:] == (4,)
    expected = [(m, i) for m in ids if m != "m0_0" for i in range(50)]  # the failed item is gated out
    assert sorted(seen) == sorted(expected) and len(seen) == len(set(seen))
    # two ranks of two workers each: the ranks' rows are disjoint and together complete
    halves = [
        {
            (b["media_id"][k], int(b["window_index"][k]))
            for b in DataLoader(StreamingWindows(str(tmp_path), rank=r, world_size=2), batch_size=8, num_workers=2)
            for k in range(len(b["media_id"]))
        }
        for r in (0, 1)
    ]
    assert not (halves[0] & halves[1]) and halves[0] | halves[1] == set(expected)
    # the whole dataset loads into the same arrays, in file order, whether the threads take a
    # file each (1 worker) or a row group each (4 workers)
    truth = pa.concat_tables(pq.read_table(p) for p in sorted((tmp_path / "windows").glob("*.parquet")))
    truth = truth.filter(pc.field("media_id") != "m0_0")
    audio = truth.column("audio").to_pylist()
    for workers in (1, 4):
        w = load_windows(str(tmp_path), workers=workers)
        assert len(w) == len(expected) and w.masks["audio"].sum() == sum(1 for _, i in expected if i % 7)
        assert list(w.media_id) == truth.column("media_id").to_pylist()
        assert list(w.window_index) == truth.column("window_index").to_pylist()
        np.testing.assert_array_equal(w.features["visual"], np.array(truth.column("visual").to_pylist(), np.float32))
        np.testing.assert_array_equal(w.masks["audio"], [a is not None for a in audio])
        np.testing.assert_array_equal(w.features["audio"][~w.masks["audio"]], 0)
        np.testing.assert_array_equal(w.features["audio"][w.masks["audio"]], [a for a in audio if a is not None])


def test_readers_of_the_field(run):
    """What README tells users to write for pandas, polars, DuckDB and HF datasets."""
    import duckdb
    import pandas as pd
    import polars as pl

    first = next((run / "windows").glob("*.parquet"))
    widths = feature_widths(pq.read_schema(first))
    df = pd.read_parquet(run / "windows")
    audio = np.stack(df.loc[df.has_audio, "audio"].to_numpy())
    assert audio.shape == (int(df.has_audio.sum()), widths["audio"])
    frame = pl.read_parquet(run / "windows" / "*.parquet")
    arr = frame.select(pl.col("audio").list.to_array(widths["audio"]))["audio"]
    assert arr.dtype == pl.Array(pl.Float32, widths["audio"]) and arr.null_count() == int((~df.has_audio).sum())
    sims = duckdb.sql(
        f"SELECT array_cosine_similarity(audio::FLOAT[{widths['audio']}], audio::FLOAT[{widths['audio']}]) AS s "
        f"FROM '{run}/windows/*.parquet'"
    ).fetchall()
    assert sum(1 for (s,) in sims if s is not None) == int(df.has_audio.sum())
    # HF datasets: fill_missing, then torch format collates every window
    code = f"""
import json, pyarrow.parquet as pq, torch
from datasets import load_dataset
from torch.utils.data import DataLoader
from mmfuse.data import feature_widths, fill_missing
ds = load_dataset("parquet", data_files="{run}/windows/*.parquet", split="train")
ds = ds.map(fill_missing(feature_widths(pq.read_schema("{first}"))), batched=True)
loader = DataLoader(ds.with_format("torch", columns=["visual", "audio", "has_audio"]), batch_size=64)
batch = next(iter(loader))
print(json.dumps([len(ds), list(batch["audio"].shape), int(batch["has_audio"].sum())]))
"""
    pytest.importorskip("datasets")
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(run.parent / "hf")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    n, shape, present = json.loads(out.stdout.strip().splitlines()[-1])
    assert n == len(df) and shape == [min(64, len(df)), widths["audio"]] and present == int(df.has_audio[:64].sum())
    assert fill_missing({"audio": 2})({"audio": [None, [1.0, 2.0]]}) == {"audio": [[0.0, 0.0], [1.0, 2.0]]}
