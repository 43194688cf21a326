"""Learned-feature throughput and the cost of fitting analyzers, each against a baseline run
in the same process.

  CNN      the same TorchScript model on the same uint8 frames, (a) called directly in a loop
           over fixed batches, (b) through mmfuse's RunInference model handler in a Beam
           pipeline (batching, keys, normalisation on the device included).
           Prints frames/s of both and (b)/(a) (target >= 0.85).
  pretrained  (--visual efficientnet_lite0) the model of ``--visual efficientnet_lite0``
           (mmfuse[pretrained]) at 224x224: (a) mmfuse's model handler, ``make_handler(...,
           pretrained_name="efficientnet_lite0")``, its ``load_model()`` and
           ``run_inference(batch, model)`` on lists of uint8 (3, 224, 224) tensors; (b) the bare
           model: ``build()``, the same state_dict (torch.load(weights_only=True)), eval,
           no_grad, the same float / 255 and (x - mean) / std, called in a loop on the same
           batches with the input laid out channels-last, as mmfuse does (the faster layout on
           CPU and GPU: its strongest configuration); the same loop with torch's default NCHW
           layout is printed too. Prints frames/s and (a)/(b) (target >= 0.9).
  fit      PCA with whitening over N windows through mmfuse's CombineFn + eigh, against
           scikit-learn's fastest PCA for the same computation on the same matrix in memory,
           PCA(whiten=True, svd_solver="covariance_eigh") (scikit-learn >= 1.5; the covariance
           and its eigendecomposition, as mmfuse does), and for reference svd_solver="full";
           and ICA. Prints seconds per 10k windows and the ratios. Each figure is the best of
           --repeat runs.

    python benchmarks/features.py [--quick] [--device cuda] [--visual cnn|efficientnet_lite0|none]
                                  [--frames 1024] [--batch N] [--size 160] [--no-fit]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def cnn_model(width: int = 64):
    """A ResNet-like stack heavy enough that the model, not the plumbing, dominates."""
    import torch.nn as nn

    layers, c = [], 3
    for w, s in ((width, 2), (width, 1), (2 * width, 2), (2 * width, 1), (4 * width, 2), (4 * width, 1), (8 * width, 2)):
        layers += [nn.Conv2d(c, w, 3, stride=s, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        c = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers).eval()


def bench_cnn(args) -> None:
    import apache_beam as beam
    import torch
    from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

    from mmfuse.transforms.features.handler import IMAGENET_MEAN, IMAGENET_STD, make_handler

    torch.manual_seed(0)
    device = torch.device(args.device)
    path = os.path.join(tempfile.mkdtemp(), "cnn.pt")
    torch.jit.script(cnn_model()).save(path)
    frames = [torch.randint(0, 256, (3, args.size, args.size), dtype=torch.uint8) for _ in range(args.frames)]

    # (a) direct: the model on fixed batches, same normalisation, channels-last input (the
    # faster layout, as the handler uses), results back on the CPU
    model = torch.jit.load(path, map_location=device).eval()
    nhwc = torch.channels_last
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    with torch.no_grad():
        model((torch.stack(frames[: args.batch]).contiguous(memory_format=nhwc).to(device).float() / 255 - mean) / std)
        start = time.perf_counter()
        for i in range(0, len(frames), args.batch):
            x = (torch.stack(frames[i : i + args.batch]).contiguous(memory_format=nhwc).to(device).float() / 255 - mean) / std
            model(x).cpu().numpy()
        if device.type == "cuda":
            torch.cuda.synchronize()
        direct = time.perf_counter() - start

    # (b) through the pipeline's handler, timed by the results' arrival (a Beam distribution of
    # microsecond timestamps: this in-process runner shares the clock with this script)
    from apache_beam.metrics import Metrics

    handler = make_handler(path, None, args.device, args.batch, "image")
    arrivals = Metrics.distribution("bench", "result_us")

    def stamp(element):
        arrivals.update(int(time.perf_counter() * 1e6))
        return element

    p = beam.Pipeline(runner="FnApiRunner")
    _ = p | beam.Create(list(enumerate(frames)), reshuffle=False) | RunInference(KeyedModelHandler(handler)) | beam.Map(stamp)
    start = time.perf_counter()
    result = p.run()
    result.wait_until_finish()
    total = time.perf_counter() - start
    (dist,) = [d.committed for d in result.metrics().query()["distributions"] if d.key.metric.name == "result_us"]
    # From the first batch's results (model loaded, like the warmed-up direct loop) to the last.
    steady = (dist.max - dist.min) / 1e6
    steady_frames = len(frames) - args.batch
    direct_rate = len(frames) / direct
    pipe_rate = steady_frames / steady if steady > 0 else float("nan")
    print(f"CNN {args.size}x{args.size}, batch {args.batch}, {len(frames)} frames on {args.device}:")
    print(f"  direct TorchScript loop       {direct_rate:8.1f} frames/s")
    print(
        f"  RunInference model handler    {pipe_rate:8.1f} frames/s  (whole pipeline incl. start-up: {len(frames) / total:.1f} frames/s)"
    )
    print(f"  ratio handler / direct      = {pipe_rate / direct_rate:.2f}   (target >= 0.85)")


def bench_pretrained(args) -> None:
    """EfficientNet-Lite0 through mmfuse's handler vs the bare model, same batches, same scaling."""
    import torch

    from mmfuse.transforms.features.handler import make_handler
    from mmfuse.transforms.features.pretrained import PRETRAINED

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch.cuda is not available here")
    spec = PRETRAINED["efficientnet_lite0"]
    spec.check_installed()
    device = torch.device(args.device)
    size, batch = 224, args.batch
    n = max(batch, args.frames // batch * batch)  # whole batches: no padding on either side
    torch.manual_seed(0)
    frames = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8) for _ in range(n)]
    batches = [frames[i : i + batch] for i in range(0, n, batch)]

    # (a) mmfuse's handler: the object RunInference calls, with its own inference function
    handler = make_handler(None, None, args.device, batch, "image", normalize=(spec.mean, spec.std), pretrained_name=spec.name)
    handled = handler.load_model()

    # (b) the bare model, the same weights
    bare = spec.build()
    bare.load_state_dict(torch.load(spec.weights_path(), map_location="cpu", weights_only=True))
    bare = bare.to(device).eval()
    mean = torch.tensor(spec.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=device).view(1, 3, 1, 1)

    def run_handler() -> None:
        for b in batches:
            handler.run_inference(b, handled)

    def run_bare(layout=torch.channels_last) -> None:
        with torch.no_grad():
            for b in batches:
                x = torch.stack(b).contiguous(memory_format=layout).to(device).float() / 255
                bare((x - mean) / std).cpu().numpy()

    def run_bare_nchw() -> None:
        run_bare(torch.contiguous_format)

    def timed(fn) -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, time.process_time() - cpu

    # same outputs (the handler's first batch against the bare model's)
    got = np.stack([r.inference for r in handler.run_inference(batches[0], handled)])
    with torch.no_grad():
        want = bare((torch.stack(batches[0]).to(device).float() / 255 - mean) / std).cpu().numpy()
    diff = float(np.max(np.abs(got - want)))
    # warm-up of both, then alternate so drift on a shared machine hits both alike
    run_bare()
    t_handler, t_bare, t_nchw = [], [], []
    for _ in range(args.repeat):
        t_handler.append(timed(run_handler))
        t_bare.append(timed(run_bare))
        t_nchw.append(timed(run_bare_nchw))
    rate_h, rate_b = n / min(t[0] for t in t_handler), n / min(t[0] for t in t_bare)
    rate_nchw = n / min(t[0] for t in t_nchw)
    cpu_h, cpu_b = n / min(t[1] for t in t_handler), n / min(t[1] for t in t_bare)
    threads = f"torch threads {torch.get_num_threads()}" if device.type == "cpu" else torch.cuda.get_device_name(0)
    print(f"efficientnet_lite0 {size}x{size}, batch {batch}, {n} frames on {args.device} ({threads}), best of {args.repeat}:")
    print(f"  bare model loop (build + state_dict)  {rate_b:8.1f} frames/s  ({cpu_b:.1f} frames per CPU second)")
    print(f"  the same loop, default NCHW input     {rate_nchw:8.1f} frames/s")
    print(f"  mmfuse handler run_inference          {rate_h:8.1f} frames/s  ({cpu_h:.1f} frames per CPU second)")
    print(f"  ratio handler / bare                = {rate_h / rate_b:.2f}   (target >= 0.9; per CPU second {cpu_h / cpu_b:.2f})")
    print(f"  max |difference| of the outputs of one batch: {diff:.2g}")


def bench_fit(args) -> None:
    import sklearn
    from sklearn.decomposition import PCA

    from mmfuse.transforms.analyzers.combiners import MomentsFn, SampleFn
    from mmfuse.transforms.analyzers.linear import fit_ica, fit_pca

    rng = np.random.default_rng(0)
    n, d = args.windows, args.dim
    # non-Gaussian sources, mixed: the kind of data ICA is for
    x = (rng.laplace(size=(n, d)) @ rng.normal(size=(d, d))).astype(np.float32)
    rows = [((f"m{i // 100}", i % 100), v) for i, v in enumerate(x)]

    def ours_fit():
        fn = MomentsFn()
        parts = [rows[i : i + 1000] for i in range(0, n, 1000)]  # as if 1000-row bundles on workers
        accs = []
        for part in parts:
            acc = fn.create_accumulator()
            for _, v in part:
                acc = fn.add_input(acc, v)
            accs.append(acc)
        moments = fn.extract_output(fn.merge_accumulators(accs))
        return moments, fit_pca(moments, args.dims, True, "visual")

    def best(fn):
        times, result = [], None
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - start)
        return min(times), result

    ours, (moments, artifact) = best(ours_fit)
    eigh, sk_eigh = best(lambda: PCA(n_components=args.dims, whiten=True, svd_solver="covariance_eigh").fit(x))
    full, _ = best(lambda: PCA(n_components=args.dims, whiten=True, svd_solver="full").fit(x))
    # the same computation: explained variances agree (scikit-learn divides by n - 1)
    var = np.asarray(artifact.arrays["explained_variance"], dtype=np.float64) * n / (n - 1)
    rel = float(np.max(np.abs(var - sk_eigh.explained_variance_) / sk_eigh.explained_variance_))

    def ica_fit():
        sample = SampleFn(min(n, 20000), key=lambda e: e[0])
        acc = sample.create_accumulator()
        for r in rows:
            acc = sample.add_input(acc, r)
        return fit_ica(moments, [v for _, v in sample.extract_output(acc)], args.dims, "visual")

    start = time.perf_counter()
    ica_fit()  # once: it is the slow one
    ica = time.perf_counter() - start

    per = 10_000 / n
    print(f"fit over {n} windows of {d} dims to {args.dims} (scikit-learn {sklearn.__version__}), best of {args.repeat}:")
    print(f"  mmfuse PCA+whiten (CombineFn + eigh)                {ours * per:7.3f} s per 10k windows")
    print(f"  scikit-learn PCA(whiten, svd_solver=covariance_eigh) {eigh * per:7.3f} s per 10k windows (in memory)")
    print(f"  scikit-learn PCA(whiten, svd_solver=full)            {full * per:7.3f} s per 10k windows (reference)")
    print(
        f"  ratio mmfuse / scikit-learn covariance_eigh       = {ours / eigh:.2f}   (explained variance max rel. diff {rel:.1e})"
    )
    print(f"  ratio mmfuse / scikit-learn full                  = {ours / full:.2f}")
    print(f"  mmfuse ICA (PCA + sample {min(n, 20000)} + FastICA) {ica * per:7.3f} s per 10k windows")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer frames and windows (a smoke run)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--visual", default="cnn", choices=["cnn", "efficientnet_lite0", "none"], help="which model stage to measure"
    )
    parser.add_argument("--frames", type=int, default=None, help="default 1024 (cnn), 256 (efficientnet_lite0)")
    parser.add_argument("--batch", type=int, default=0, help="inputs per model call (default: mmfuse's, 4 on cpu, 32 on cuda)")
    parser.add_argument("--size", type=int, default=160, help="frame side of --visual cnn")
    parser.add_argument("--windows", type=int, default=None, help="default 50000")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--dims", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-fit", dest="fit", action="store_false", help="skip the fit benchmark")
    args = parser.parse_args()
    if args.frames is None:
        args.frames = {"cnn": 1024, "efficientnet_lite0": 256, "none": 0}[args.visual] // (4 if args.quick else 1)
    if args.windows is None:
        args.windows = 10_000 if args.quick else 50_000
    if not args.batch:
        from mmfuse.settings import FeatureSettings

        args.batch = FeatureSettings(device=args.device).model_batch("image")
    if args.quick:
        args.repeat = min(args.repeat, 2)
    if args.visual == "cnn":
        bench_cnn(args)
    elif args.visual == "efficientnet_lite0":
        bench_pretrained(args)
    if args.fit:
        bench_fit(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
