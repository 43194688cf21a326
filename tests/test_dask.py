"""The whole job on a real Dask cluster (a LocalCluster of 2 worker processes: a scheduler and
workers, as `dask scheduler` / `dask worker` would be): ``--runner DaskRunner
--dask_client_address tcp://...`` writes the tables the in-process runner writes."""

import json
import os
import time

import pyarrow.parquet as pq
import pytest
from conftest import RUNNER, run_cli

from mmfuse.pipelines import extract
from mmfuse.testing import Event, SyntheticSpec, make_media, write_srt

distributed = pytest.importorskip("distributed", reason="the DaskRunner needs mmfuse[dask]")
pytest.importorskip("dask.bag", reason="the DaskRunner needs mmfuse[dask]")
from threadpoolctl import threadpool_limits  # noqa: E402 (scikit-learn's dependency)

TABLES = ("windows", "media", "errors", "frames", "shots")
# Dask's nanny starts workers with OMP/MKL/OPENBLAS_NUM_THREADS=1; the reference run gets one
# BLAS thread too, or a multi-threaded BLAS sums in another order and the last bit of some audio
# features differs (1 ulp of a float32).


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dask")
    lines = []
    for k in range(2):
        video = folder / f"v{k}.mp4"
        make_media(
            str(video),
            SyntheticSpec(duration_s=2 + k, width=64, height=48, flashes=(Event(1.0, 0.2),), tones=(Event(1.5, 0.3),), seed=k),
        )
        srt = folder / f"v{k}.srt"
        write_srt(str(srt), [(200_000, 1_800_000, f"item {k} says hello")])
        lines.append(json.dumps({"id": f"v{k}", "video": str(video), "transcript": str(srt)}))
    lines.append(json.dumps({"id": "bad", "video": str(folder / "missing.mp4")}))
    manifest = folder / "items.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as c:
        with Client(c) as client:
            client.get_task_stream()  # installs the scheduler's task-stream plugin before any job
            yield c, client


def _table(out, name):
    table = pq.read_table(os.path.join(out, name))
    keys = ("media_id", "window_index", "frame_index", "shot_index", "stage", "start_us")
    rows = sorted(table.to_pylist(), key=lambda r: json.dumps([r.get(k) for k in keys], default=str))
    return table.schema, rows


def test_the_whole_job_on_a_dask_cluster_writes_the_tables_of_the_in_process_runner(items, cluster, tmp_path):
    local, client = cluster
    base = ["--manifest", str(items), "--frames_table", "--shots"]
    with threadpool_limits(1):  # as on the Dask workers
        assert extract.main([*base, "--output", str(tmp_path / "inproc"), "--runner", RUNNER]) == 0
    start = time.time()
    run_cli(
        [*base, "--output", str(tmp_path / "dask"), "--runner", "DaskRunner", "--dask_client_address", local.scheduler_address],
        timeout=240,
    )

    for name in TABLES:
        schema, rows = _table(tmp_path / "inproc", name)
        dask_schema, dask_rows = _table(tmp_path / "dask", name)
        assert rows, name
        assert dask_schema.equals(schema, check_metadata=True), name
        assert dask_rows == rows, name
    reference = json.loads((tmp_path / "inproc" / "run.json").read_text())
    run = json.loads((tmp_path / "dask" / "run.json").read_text())
    assert run["counts"] == reference["counts"]
    assert run["metrics"] == reference["metrics"] and run["metrics"]["video_chunks"] == 2  # counters from the workers

    # the job's steps ran as tasks on both worker processes, not in the launcher
    tasks = [t for t in client.get_task_stream(start=start) if any(s["action"] == "compute" for s in t["startstops"])]
    by_step = {}
    for t in tasks:
        by_step.setdefault(str(t["key"]), set()).add(t["worker"])
    decoded_on = set().union(*(w for k, w in by_step.items() if "Extract_DecodeTasks_Decode" in k))
    workers = client.scheduler_info()["workers"]
    assert decoded_on and decoded_on <= set(workers)
    assert {t["worker"] for t in tasks} == set(workers), "both workers ran tasks of the job"
    assert os.getpid() not in client.run(os.getpid).values()


def _dump(values, path):
    with open(path, "w") as f:
        json.dump(sorted(values, key=str), f)


def test_tagged_outputs_finish_bundle_side_inputs_and_counters_on_the_cluster(cluster, tmp_path):
    """What Beam's own DaskRunner gets wrong: each tag reaches its own consumers, elements
    emitted in finish_bundle arrive, a side input is there, each element is processed once (a
    counter says so), and a branch that is not the last one applied runs too."""
    import apache_beam as beam
    from apache_beam.metrics import Metrics, MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.transforms.window import GlobalWindows

    from mmfuse.dask_runner import DaskRunner

    local, _ = cluster

    class Split(beam.DoFn):
        def __init__(self):
            self.seen = Metrics.counter("test", "processed")

        def start_bundle(self):
            self.n = 0

        def process(self, x, offset):
            self.seen.inc()
            self.n += 1
            yield x + offset
            yield beam.pvalue.TaggedOutput("tens", 10 * x)

        def finish_bundle(self):
            yield GlobalWindows.windowed_value(["bundle", self.n])

    p = beam.Pipeline(runner=DaskRunner(), options=PipelineOptions(["--dask_client_address", local.scheduler_address]))
    offset = p | "Offset" >> beam.Create([600, 400]) | beam.CombineGlobally(sum)
    out = (
        p
        | beam.Create(list(range(8)))
        | beam.Reshuffle()
        | beam.ParDo(Split(), beam.pvalue.AsSingleton(offset)).with_outputs("tens", main="main")
    )
    _ = out.main | "ListMain" >> beam.combiners.ToList() | "DumpMain" >> beam.Map(_dump, str(tmp_path / "main.json"))
    _ = out.tens | "ListTens" >> beam.combiners.ToList() | "DumpTens" >> beam.Map(_dump, str(tmp_path / "tens.json"))
    result = p.run()
    assert result.wait_until_finish() == "DONE"

    main = json.loads((tmp_path / "main.json").read_text())
    numbers = [v for v in main if isinstance(v, int)]
    bundles = [v[1] for v in main if isinstance(v, list)]
    assert sorted(numbers) == list(range(1000, 1008))
    assert bundles and sum(bundles) == 8  # one finish_bundle element per bundle
    assert sorted(json.loads((tmp_path / "tens.json").read_text())) == list(range(0, 80, 10))
    counters = result.metrics().query(MetricsFilter().with_name("processed"))["counters"]
    assert sum(c.committed for c in counters) == 8


def test_dask_flags_are_beam_flags():
    from mmfuse.pipelines.options import parse_args

    job = parse_args(["--videos", "x/*.mp4", "--output", "o", "--runner", "DaskRunner", "--dask_client_address", "tcp://h:8786"])
    assert job.beam_args == ["--runner", "DaskRunner", "--dask_client_address", "tcp://h:8786"]
