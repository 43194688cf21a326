"""Learned-feature throughput and the cost of fitting analyzers, each against a baseline run
in the same process.

  CNN      the same TorchScript model on the same uint8 frames, (a) called directly in a loop
           over fixed batches, (b) through mmfuse's RunInference model handler in a Beam
           pipeline (batching, keys, normalisation on the device included).
           Prints frames/s of both and (b)/(a) (target >= 0.85).
  fit      PCA with whitening over N windows through mmfuse's CombineFn + eigh, against
           scikit-learn's PCA(whiten=True).fit on the same matrix in memory; and ICA.
           Prints seconds per 10k windows and the ratio.

    python benchmarks/features.py [--device cuda] [--frames 2048] [--batch 64] [--size 224]
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

    # (a) direct: the model on fixed batches, same normalisation, results back on the CPU
    model = torch.jit.load(path, map_location=device).eval()
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    with torch.no_grad():
        model((torch.stack(frames[: args.batch]).to(device).float() / 255 - mean) / std)  # warm-up
        start = time.perf_counter()
        for i in range(0, len(frames), args.batch):
            x = (torch.stack(frames[i : i + args.batch]).to(device).float() / 255 - mean) / std
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


def bench_fit(args) -> None:
    from sklearn.decomposition import PCA

    from mmfuse.transforms.analyzers.combiners import MomentsFn, SampleFn
    from mmfuse.transforms.analyzers.linear import fit_ica, fit_pca

    rng = np.random.default_rng(0)
    n, d = args.windows, args.dim
    # non-Gaussian sources, mixed: the kind of data ICA is for
    x = (rng.laplace(size=(n, d)) @ rng.normal(size=(d, d))).astype(np.float32)
    rows = [((f"m{i // 100}", i % 100), v) for i, v in enumerate(x)]

    start = time.perf_counter()
    fn = MomentsFn()
    parts = [rows[i : i + 1000] for i in range(0, n, 1000)]  # as if 1000-row bundles on workers
    accs = []
    for part in parts:
        acc = fn.create_accumulator()
        for _, v in part:
            acc = fn.add_input(acc, v)
        accs.append(acc)
    moments = fn.extract_output(fn.merge_accumulators(accs))
    fit_pca(moments, args.dims, True, "visual")
    ours = time.perf_counter() - start

    start = time.perf_counter()
    PCA(n_components=args.dims, whiten=True, svd_solver="full").fit(x)
    sk = time.perf_counter() - start

    start = time.perf_counter()
    sample = SampleFn(min(n, 20000), key=lambda e: e[0])
    acc = sample.create_accumulator()
    for r in rows:
        acc = sample.add_input(acc, r)
    fit_ica(moments, [v for _, v in sample.extract_output(acc)], args.dims, "visual")
    ica = time.perf_counter() - start

    per = 10_000 / n
    print(f"fit over {n} windows of {d} dims to {args.dims}:")
    print(f"  mmfuse PCA+whiten (CombineFn + eigh)  {ours * per:7.3f} s per 10k windows")
    print(f"  scikit-learn PCA(whiten) in memory    {sk * per:7.3f} s per 10k windows")
    print(f"  ratio mmfuse / scikit-learn         = {ours / sk:.2f}")
    print(f"  mmfuse ICA (PCA + sample {min(n, 20000)} + FastICA) {ica * per:7.3f} s per 10k windows")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--frames", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--windows", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--dims", type=int, default=64)
    args = parser.parse_args()
    bench_cnn(args)
    bench_fit(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
