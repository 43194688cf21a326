"""Fusion on a labelled set built from raw media, where no modality suffices alone, run from
the files through ``pipelines.extract --fusion early`` to ``pipelines.train``.

The AV-MNIST recipe with what exists here: each item is one of ten digit classes.

- picture: a real handwritten digit (scikit-learn's ``digits``, from the UCI set), shown for
  2 s as a 64×64 video, with the energy of its top ``--remove`` principal components (fitted
  over all 1797 digits) taken out and pixel noise added;
- sound: the digit's name spoken by espeak-ng (no recording of spoken digits ships here) in
  one of several voices and rates, under babble: real speech from the shared corpus at
  ``--snr`` dB;
- text: a subtitle naming the digit on ``--text_share`` of the items only.

Prints model → accuracy and macro F1 on the held-out items, the gap of each fusion kind over
the best single modality, and the CPU time of each stage (making the media, extracting,
training).

    python benchmarks/fusion.py --corpus ../shared/corpus [--items 400 --remove 4 --snr 0 --text_share 0.25]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VOICES = (("en-us", 150), ("en-us", 190), ("en", 170), ("en-us", 130))


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _degraded_digits(remove: int, noise: float, rng) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    digits = load_digits()
    x = digits.data / 16.0
    pca = PCA(n_components=remove).fit(x)
    kept = x - pca.inverse_transform(pca.transform(x)) + pca.mean_  # the top components' energy removed
    kept = kept + rng.normal(0, noise, kept.shape)
    return np.clip(kept, 0, 1), digits.target


def _babble(corpus: str, rate: int) -> np.ndarray:
    import librosa

    paths = sorted(glob.glob(os.path.join(corpus, "speech", "items", "*", "audio.wav")))
    return np.concatenate([librosa.load(p, sr=rate, mono=True)[0] for p in paths[:12]])


def _write_video(path: str, image: np.ndarray, seconds: int = 2, fps: int = 5) -> None:
    import av
    import cv2

    grey = (cv2.resize(image.reshape(8, 8), (64, 64), interpolation=cv2.INTER_NEAREST) * 255).astype(np.uint8)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    with av.open(path, mode="w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.codec_context.options = {"preset": "veryfast", "crf": "18"}
        for n in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = n, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _write_wav(path: str, samples: np.ndarray, rate: int) -> None:
    import soundfile

    soundfile.write(path, np.clip(samples, -1, 1), rate, subtype="PCM_16")


def make_set(folder: str, corpus: str, items: int, remove: int, snr_db: float, text_share: float, seed: int) -> None:
    from mmfuse.testing import write_srt
    from mmfuse.transforms.align.tts import Synthesizer

    rng = np.random.default_rng(seed)
    images, targets = _degraded_digits(remove, 0.15, rng)
    rate, seconds = 16000, 2
    babble = _babble(corpus, rate)
    voices = {v: Synthesizer(voice=v[0], words_per_minute=v[1]) for v in VOICES}
    os.makedirs(folder, exist_ok=True)
    lines = []
    by_class = {c: np.flatnonzero(targets == c) for c in range(10)}
    for k in range(items):
        digit = k % 10
        image = images[rng.choice(by_class[digit])]
        name = f"d{k:04d}"
        _write_video(os.path.join(folder, f"{name}.mp4"), image, seconds)
        speech, _ = voices[VOICES[rng.integers(len(VOICES))]].speak(NAMES[digit])
        speech = speech[: rate * seconds]
        track = np.zeros(rate * seconds, np.float32)
        at = int(rng.integers(0, max(1, len(track) - len(speech))))
        track[at : at + len(speech)] = speech
        start = int(rng.integers(0, len(babble) - len(track)))
        noise = babble[start : start + len(track)]
        gain = np.sqrt(np.mean(speech**2) / max(np.mean(noise**2), 1e-12) / 10 ** (snr_db / 10))
        _write_wav(os.path.join(folder, f"{name}.wav"), track + gain * noise, rate)
        entry = {"id": name, "video": f"{name}.mp4", "audio": f"{name}.wav", "label": NAMES[digit]}
        if rng.random() < text_share:
            write_srt(os.path.join(folder, f"{name}.srt"), [(0, seconds * 1_000_000, f"the number {NAMES[digit]}")])
            entry["transcript"] = f"{name}.srt"
        lines.append(json.dumps(entry))
    with open(os.path.join(folder, "items.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=os.environ.get("MMFUSE_CORPUS", "../shared/corpus"))
    ap.add_argument("--items", type=int, default=400)
    ap.add_argument("--remove", type=int, default=4, help="principal components of the digits removed")
    ap.add_argument("--snr", type=float, default=0.0, help="speech-to-babble ratio in dB")
    ap.add_argument("--text_share", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "bench", "fusion"))
    args = ap.parse_args()
    inputs, run = os.path.join(args.out, "inputs"), os.path.join(args.out, "run")
    wall = time.time()
    started = time.process_time()
    make_set(inputs, args.corpus, args.items, args.remove, args.snr, args.text_share, args.seed)
    make_s = time.process_time() - started
    env = {**os.environ, "PYTHONPATH": ROOT}
    before = _children_cpu()
    extract = [sys.executable, "-m", "mmfuse.pipelines.extract", "--manifest", os.path.join(inputs, "items.jsonl")]
    extract += ["--output", run, "--overwrite", "--runner", "FnApiRunner", "--fps", "2", "--fusion", "early"]
    subprocess.run(extract, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    extract_s = _children_cpu() - before
    before = _children_cpu()
    train = [sys.executable, "-m", "mmfuse.pipelines.train", run, "--sequence", "--seed", str(args.seed)]
    subprocess.run(train, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    train_s = _children_cpu() - before
    metrics = json.load(open(os.path.join(run, "train", "metrics.json")))
    report = json.load(open(os.path.join(run, "train", "report.json")))
    print(
        f"{args.items} items of 10 digit classes (pictures with {args.remove} principal components removed, "
        f"speech at {args.snr:+.0f} dB under real babble, subtitles on {args.text_share:.0%}); held out: {report['split']}"
    )
    print(f"{'model':<17}{'accuracy':>9}{'macro F1':>10}")
    for name, m in metrics.items():
        print(f"{name:<17}{m['accuracy']:>9.3f}{m['f1']:>10.3f}")
    singles = {n: m["accuracy"] for n, m in metrics.items() if n in ("visual", "audio", "text")}
    best = max(singles, key=singles.get)
    for name in ("early", "intermediate", "intermediate_gru", "late"):
        if name in metrics:
            gap = 100 * (metrics[name]["accuracy"] - singles[best])
            print(f"  {name} - best single modality ({best}): {gap:+.1f} accuracy points (target >= +10)")
    print(
        f"CPU s: making the media {make_s:.1f}, extract {extract_s:.1f}, train {train_s:.1f} "
        f"(models: {report['cpu_s']}); wall from raw media to metrics {time.time() - wall:.0f} s (target <= 900)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
