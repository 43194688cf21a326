"""The table sink: rows with float32 arrays to Parquet files written where the rows are made."""

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from conftest import RUNNER

from mmfuse.schemas.tables import FeatureSpec, read_feature_spec
from mmfuse.transforms.sinks.beam import WriteTables

SCHEMA = pa.schema(
    [
        pa.field("media_id", pa.string(), False),
        pa.field("window_index", pa.int64(), False),
        pa.field("visual", pa.list_(pa.float32()), metadata=FeatureSpec("test", 0, {}).metadata()),
    ]
)


def _rows(n, width=4):
    for i in range(n):
        vec = None if i % 7 == 3 else np.full(width, i, np.float32)
        yield {"media_id": f"m{(i * 7919) % 97:03d}", "window_index": i, "visual": vec}


def _write(folder, rows, bundles=3):
    with beam.Pipeline(RUNNER, options=PipelineOptions([])) as p:
        made = (
            p
            | beam.Create(list(range(bundles)))
            | beam.Reshuffle()
            | beam.FlatMap(lambda k: [r for r in rows if r["window_index"] % bundles == k])
        )
        _ = {"windows": made} | WriteTables(str(folder), {"windows": SCHEMA})


def test_every_row_once_in_named_sorted_files_with_the_width(tmp_path):
    rows = list(_rows(45_000))
    (tmp_path / "windows").mkdir()
    stray = tmp_path / "windows" / "part-tmp-0123456789abcdef.parquet"  # a retried bundle's file
    stray.write_bytes(b"half")
    _write(tmp_path, rows)
    files = sorted((tmp_path / "windows").iterdir())
    n = len(files)
    assert n >= 3 and [f.name for f in files] == [f"part-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
    got = []
    for f in files:
        table = pq.read_table(f)
        assert table.num_rows <= 20_000
        keys = list(zip(table["media_id"].to_pylist(), table["window_index"].to_pylist()))
        assert keys == sorted(keys)
        spec = read_feature_spec(table.schema.field("visual"))
        assert spec.dim == 4 and table.schema.field("visual").type == pa.list_(pa.float32())
        got += table.to_pylist()
    assert len(got) == len(rows)
    by_index = {r["window_index"]: r for r in got}
    for r in rows:
        v = by_index[r["window_index"]]["visual"]
        assert (v is None) == (r["visual"] is None)
        if v is not None:
            assert v == [float(r["window_index"])] * 4


def test_rows_of_different_widths_stop_the_job(tmp_path):
    rows = [
        {"media_id": "a", "window_index": 0, "visual": np.zeros(4, np.float32)},
        {"media_id": "a", "window_index": 1, "visual": np.zeros(5, np.float32)},
    ]
    with pytest.raises(Exception, match="different widths"):
        _write(tmp_path, rows, bundles=1)


def test_an_empty_table_still_gets_one_file_with_its_schema(tmp_path):
    _write(tmp_path, [], bundles=1)
    (only,) = (tmp_path / "windows").iterdir()
    assert only.name == "part-00000-of-00001.parquet"
    assert pq.read_schema(only).names == SCHEMA.names
