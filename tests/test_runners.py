"""The same job on every local runner Beam offers, Dataflow and Flink built offline, resume,
and long items split into several work items."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, RUNNER, kill_group, run_cli, running_job

from mmfuse.pipelines import extract
from mmfuse.pipelines.job import build_pipeline
from mmfuse.pipelines.options import parse_args
from mmfuse.testing import Event, SyntheticSpec, make_media, write_srt


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runners")
    lines = []
    for k in range(3):
        video = folder / f"v{k}.mp4"
        make_media(
            str(video), SyntheticSpec(duration_s=3 + k, flashes=(Event(1.0 + k * 0.5, 0.2),), tones=(Event(2.0, 0.3),), seed=k)
        )
        srt = folder / f"v{k}.srt"
        write_srt(str(srt), [(200_000, 1_800_000, f"item {k} says hello"), (2_000_000, 2_900_000, "and goodbye")])
        lines.append(json.dumps({"id": f"v{k}", "video": str(video), "transcript": str(srt)}))
    lines.append(json.dumps({"id": "bad", "video": str(folder / "missing.mp4")}))
    manifest = folder / "items.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def _sorted_rows(out, table):
    rows = pq.read_table(os.path.join(out, table)).to_pylist()
    return sorted(rows, key=lambda r: json.dumps([r.get("media_id"), r.get("window_index"), r.get("stage")], default=str))


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_three_local_runners_give_the_same_tables(items, tmp_path):
    base = ["--manifest", str(items), "--frames_table"]
    assert extract.main([*base, "--output", str(tmp_path / "inproc"), "--runner", RUNNER]) == 0
    run_cli(
        [*base, "--output", str(tmp_path / "multi"), "--direct_running_mode", "multi_processing", "--direct_num_workers", "2"]
    )
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main", "--port", str(port)],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("localhost", port)) == 0:
                    break
            time.sleep(0.3)
        run_cli(
            [
                *base,
                "--output",
                str(tmp_path / "portable"),
                "--runner",
                "PortableRunner",
                "--job_endpoint",
                f"localhost:{port}",
                "--environment_type",
                "LOOPBACK",
            ]
        )
    finally:
        kill_group(server)
    for table in ("windows", "media", "errors", "frames"):
        reference = _sorted_rows(tmp_path / "inproc", table)
        assert reference, table
        assert _sorted_rows(tmp_path / "multi", table) == reference, table
        assert _sorted_rows(tmp_path / "portable", table) == reference, table


def test_dataflow_gpu_job_builds_offline(items, tmp_path):
    pytest.importorskip("google.cloud.storage", reason="the Dataflow dry run needs mmfuse[gcp]")
    torch = pytest.importorskip("torch")
    from mmfuse.transforms.features.models import small_cnn

    model = tmp_path / "cnn.pt"
    torch.jit.script(small_cnn(16).eval()).save(str(model))
    out = run_cli(
        [
            "--manifest",
            str(items),
            "--output",
            str(tmp_path / "df"),
            "--runner",
            "DataflowRunner",
            "--dry_run",
            "True",
            "--project",
            "my-project",
            "--region",
            "us-central1",
            "--temp_location",
            "gs://my-bucket/tmp",
            "--sdk_container_image",
            "us-docker.pkg.dev/my-project/mmfuse/worker-gpu:0.1",
            "--sdk_location",
            "container",
            "--dataflow_service_options",
            "worker_accelerator=type:nvidia-tesla-t4;count:1;install-nvidia-driver",
            "--experiments",
            "no_use_multiple_sdk_containers",
            "--visual",
            "cnn",
            "--visual_model",
            str(model),
            "--device",
            "cuda",
            "--reduce",
            "pca_whiten",
        ]
    )
    described = json.loads(out.split("not submitted: ", 1)[1].strip().splitlines()[0])
    assert described["environments"] == [
        {"urn": "beam:env:docker:v1", "image": "us-docker.pkg.dev/my-project/mmfuse/worker-gpu:0.1"}
    ]
    assert described["dataflow_service_options"] == ["worker_accelerator=type:nvidia-tesla-t4;count:1;install-nvidia-driver"]
    assert "no_use_multiple_sdk_containers" in described["experiments"] and described["transforms"] > 50
    assert not (tmp_path / "df").exists()  # nothing was run


def test_flink_portable_pipeline_proto_offline(items, tmp_path):
    """What a Flink job server would receive: external worker-pool environments, and every
    transform's payload loadable again (nothing unpicklable)."""
    from apache_beam.internal import pickler
    from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions
    from apache_beam.portability import common_urns
    from apache_beam.portability.api import beam_runner_api_pb2
    from apache_beam.transforms import environments

    argv = [
        "--manifest",
        str(items),
        "--output",
        str(tmp_path / "flink"),
        "--runner",
        "FlinkRunner",
        "--flink_master",
        "localhost:8081",
        "--environment_type",
        "EXTERNAL",
        "--environment_config",
        "localhost:50000",
        "--shots",
        "--reduce",
        "pca",
    ]
    job = parse_args(argv)
    options = PipelineOptions(argv)
    p = beam.Pipeline(options=options)
    build_pipeline(p, job, 4, "fingerprint")
    env = environments.Environment.from_options(options.view_as(PortableOptions))
    proto = p.to_runner_api(default_environment=env)
    envs = list(proto.components.environments.values())
    assert envs and all(e.urn == common_urns.environments.EXTERNAL.urn for e in envs)
    assert all(b"localhost:50000" in e.payload for e in envs)
    loaded = 0
    for t in proto.components.transforms.values():
        if t.spec.urn == common_urns.primitives.PAR_DO.urn:
            payload = beam_runner_api_pb2.ParDoPayload.FromString(t.spec.payload)
            if payload.do_fn.urn == "beam:dofn:pickled_python_info:v1":
                pickler.loads(payload.do_fn.payload)
                loaded += 1
    assert loaded > 20
    beam.Pipeline.from_runner_api(proto, p.runner, options)  # the whole graph loads back


def test_resume_is_idempotent_and_retries_changes(items, tmp_path):
    out = str(tmp_path / "out")
    base = ["--manifest", str(items), "--output", out, "--runner", RUNNER]
    assert extract.main(base) == 0
    first = {t: _sorted_rows(out, t) for t in ("windows", "errors")}
    media = {r["media_id"]: r for r in _sorted_rows(out, "media")}
    assert all(r["fingerprint"] for r in media.values()) and not any(r["carried_over"] for r in media.values())
    first_status = {m: r["status"] for m, r in media.items()}
    assert extract.main([*base, "--skip_existing"]) == 0
    run = json.loads(open(os.path.join(out, "run.json")).read())
    assert run["counts"]["skipped"] == 3 and run["counts"]["inputs"] == 4 and run["counts"]["failed"] == 1
    assert {t: _sorted_rows(out, t) for t in ("windows", "errors")} == first
    media = {r["media_id"]: r for r in _sorted_rows(out, "media")}
    # carried rows keep the status they had, so a filter on status stays right after a resume
    assert {m: r["status"] for m, r in media.items()} == first_status and first_status["v0"] in ("ok", "partial")
    assert {m: r["carried_over"] for m, r in media.items()} == {"v0": True, "v1": True, "v2": True, "bad": False}
    # a changed file is processed again; its rows are replaced, not added
    make_media(str(items.parent / "v1.mp4"), SyntheticSpec(duration_s=2, seed=9))
    assert extract.main([*base, "--skip_existing"]) == 0
    carried = {r["media_id"]: r["carried_over"] for r in _sorted_rows(out, "media")}
    assert carried["v1"] is False and carried["v0"] is True
    windows = _sorted_rows(out, "windows")
    assert sum(1 for w in windows if w["media_id"] == "v1") == 2
    assert len({(w["media_id"], w["window_index"]) for w in windows}) == len(windows)
    # a setting that changes features invalidates every item
    assert extract.main([*base, "--skip_existing", "--fps", "1"]) == 0
    assert json.loads(open(os.path.join(out, "run.json")).read())["counts"]["skipped"] == 0


def test_a_long_item_is_several_work_items(tmp_path):
    video = tmp_path / "ten_minutes.mp4"
    make_media(str(video), SyntheticSpec(duration_s=600, fps=2, width=32, height=24, audio=False, gop=20))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "long", "video": str(video)}) + "\n")
    assert extract.main(["--manifest", str(manifest), "--output", str(tmp_path / "o"), "--runner", RUNNER]) == 0
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run["metrics"]["video_chunks"] == 10  # decoded as ten separate, reshuffled tasks
    assert run["metrics"]["windows"] == 600 and run["metrics"]["items_probed"] == 1


def test_a_killed_overwrite_leaves_the_earlier_run_whole_and_a_finished_one_replaces_it(items, tmp_path):
    import hashlib
    import signal

    out = tmp_path / "out"
    base = ["--manifest", str(items), "--output", str(out), "--runner", RUNNER]
    assert extract.main(base) == 0

    def snapshot():
        return {
            str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*"))
            if p.is_file() and not any(part.startswith(".mmfuse-") for part in p.parts)
        }

    before = snapshot()
    assert any(k.startswith("windows/") for k in before)
    with running_job([*base, "--overwrite", "--fps", "0", "--av_sync", "--align_words"]) as proc:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert snapshot() == before  # the earlier run, file for file
    assert extract.main([*base, "--overwrite", "--fps", "1"]) == 0  # a finished run replaces it
    after = json.loads((out / "run.json").read_text())
    assert after["config"]["fps"] == 1 and not (out / ".mmfuse-staging").exists()
    assert all(len(pq.read_table(out / t)) for t in ("windows", "media"))


def _tables_of(out):
    run = json.loads((out / "run.json").read_text())
    return (
        run["config"]["hop"],
        len(pq.read_table(out / "windows")),
        sorted(r["media_id"] for r in pq.read_table(out / "media").to_pylist()),
    )


@pytest.mark.parametrize("point", ["promote:complete", "promote:previous", "promote:moved"])
def test_a_job_killed_while_swapping_in_its_run_leaves_one_complete_run(items, tmp_path, point):
    """SIGKILL at each step of the swap (the process kills itself there): the next job into the
    folder finds it holding the old run or the new one, whole, never a mix; --skip_existing
    then resumes without duplicates."""
    out = tmp_path / "out"
    base = ["--manifest", str(items), "--output", str(out), "--runner", RUNNER]
    assert extract.main([*base, "--hop", "1.0"]) == 0
    old = _tables_of(out)
    proc = subprocess.run(
        [sys.executable, "-m", "mmfuse.pipelines.extract", *base, "--overwrite", "--hop", "0.5"],
        cwd=ROOT,
        env={**os.environ, "MMFUSE_FAULT": point},
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    from mmfuse.transforms.sinks.runfolder import recover

    recover(str(out))
    hop, n_windows, ids = _tables_of(out)
    assert ids == old[2]
    # the old run (hop 1 s) or the new one (hop 0.5 s: about twice the windows), each whole
    assert (hop, n_windows) == old[:2] or (hop == 0.5 and n_windows > old[1]), (hop, n_windows, old)
    assert not (out / ".mmfuse-staging").exists() and not (out / ".mmfuse-previous").exists()
    assert extract.main([*base, "--skip_existing", "--hop", str(hop)]) == 0
    media = pq.read_table(out / "media").to_pylist()
    assert sorted(r["media_id"] for r in media) == old[2]  # no duplicates
    assert all(r["carried_over"] or r["status"] == "failed" for r in media), [r["status"] for r in media]


def test_a_second_job_into_the_same_output_is_refused(items, tmp_path):
    out = tmp_path / "out"
    base = ["--manifest", str(items), "--output", str(out), "--runner", RUNNER]
    with running_job([*base, "--av_sync", "--align_words"]) as proc:
        second = subprocess.run(
            [sys.executable, "-m", "mmfuse.pipelines.extract", *base, "--overwrite"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2, second.stderr[-2000:]
        assert "is being written by process" in second.stderr and str(proc.pid) in second.stderr
        assert proc.wait(timeout=300) == 0
    assert extract.main([*base, "--overwrite"]) == 0  # the lock went with the first job


def test_a_full_disk_ends_with_one_line_and_keeps_the_earlier_run(items, tmp_path, monkeypatch, capsys):
    import errno

    import mmfuse.transforms.sinks.files as files

    out = tmp_path / "out"
    base = ["--manifest", str(items), "--output", str(out), "--runner", RUNNER]
    assert extract.main(base) == 0
    before = (out / "run.json").read_bytes()

    real = files.open_write

    @contextlib.contextmanager
    def full(path, *args):
        with real(path, *args) as f:

            class Full:
                def write(self, data):
                    raise OSError(errno.ENOSPC, "No space left on device", path)

                def __getattr__(self, name):
                    return getattr(f, name)

            yield Full()

    monkeypatch.setattr(files, "open_write", full)
    capsys.readouterr()
    assert extract.main([*base, "--overwrite"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("mmfuse: error: no space left on the device while writing " + str(out)), err[-3:]
    assert (out / "run.json").read_bytes() == before and len(pq.read_table(out / "windows"))
