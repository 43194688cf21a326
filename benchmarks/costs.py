"""What a whole run costs per hour of real 720p video with speech, setting by setting, next to
what a user would run instead for the same output.

The item is real material from the shared corpus: Big Buck Bunny's first 30 s (1280x720, the
moviepy corpus), looped and encoded as H.264 at 4 Mb/s, with gentle's Harvard list recording
(real speech, 53.6 s) repeated as its soundtrack (AAC) and its plain transcript repeated with
it. ``--loops`` copies of the speech set the length (default 2: 107 s).

Every side runs in its own process; CPU is user + system of it and its children, imports
included. A per-hour figure is ``(CPU(item) - CPU(1 s item)) / (seconds - 1) * 3600``: the same
command on the item's first second is each side's fixed cost (interpreter, imports, model
loading), reported apart, since what an hour costs is what grows with the input.

  default             mmfuse.pipelines.extract, default settings (2 fps, classical features,
                      log-mel audio, hashed text)   vs OpenCV's grab/retrieve loop sampling the
                      same 2 fps (decode.py's baseline, one thread): decoding alone, no features
  --shots             the extra of --shots over the default job   vs PySceneDetect's
                      ContentDetector on the same file (its own decoding; its whole run)
  --align_words       the extra of --align_words over the default job; no aligner a user
                      would pick instead installs offline here (Gentle needs Kaldi, MFA conda),
                      so it is shown against the default job it adds to
  --visual efficientnet_lite0
                      the whole job   vs a script of OpenCV's 2 fps loop feeding the same
                      frames (224x224 RGB, the model's own pixel scaling) to the same pretrained model in
                      its fastest CPU configuration, as mmfuse runs it: channels-last batches
                      of 4 (torch's default threads on both sides)

    python benchmarks/costs.py [--corpus ../shared/corpus] [--loops 2] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from decode import _OPENCV, measure  # noqa: E402  (this folder is on sys.path when run as a script)

from mmfuse.testing.corpus import speech_items  # noqa: E402

CLIP = os.path.join("video", "moviepy", "media", "big_buck_bunny_0_30.webm")

_SCENEDETECT = """
import sys
from scenedetect import ContentDetector, detect
print(len(detect(sys.argv[1], ContentDetector())))
"""

# OpenCV's 2 fps loop (as decode.py's baseline) feeding EfficientNet-Lite0 channels-last batches of 4
_CV2_CNN = r"""
import sys
import cv2, numpy as np, torch
from mmfuse.transforms.features.pretrained import pretrained

path, fps = sys.argv[1], float(sys.argv[2])
spec = pretrained("efficientnet_lite0")
model = spec.build()
model.load_state_dict(torch.load(spec.weights_path(), map_location="cpu", weights_only=True))
model.eval()
mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
std = torch.tensor(spec.std).view(1, 3, 1, 1)
out, batch = [], []

def run():
    # NHWC pixels viewed as NCHW: channels-last, the faster layout on the CPU
    x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float() / 255
    with torch.inference_mode():
        out.append(model((x - mean) / std).numpy())
    batch.clear()

cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
half_frame_ms = 500.0 / (cap.get(cv2.CAP_PROP_FPS) or 30.0)
step_ms, k = 1000.0 / fps, 0
while cap.grab():
    t = cap.get(cv2.CAP_PROP_POS_MSEC)
    if t + half_frame_ms > k * step_ms:
        ok, frame = cap.retrieve()
        if ok:
            small = cv2.resize(frame, (224, 224), interpolation=cv2.INTER_AREA)
            batch.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
            if len(batch) == 4:
                run()
        while t + half_frame_ms > k * step_ms:
            k += 1
if batch:
    run()
print(sum(len(o) for o in out))
"""


def least(cmd: list[str], repeat: int) -> float:
    return min(measure(cmd)["cpu"] for _ in range(repeat))


def make_item(corpus: str, folder: str, loops: int) -> tuple[dict, dict, float]:
    """(manifest entry of the item, of its first second, the item's seconds)."""
    import soundfile as sf

    (speech,) = speech_items(os.path.join(corpus, "speech"), "en", ["gentle_harvard_list30"])
    audio, rate = sf.read(speech.audio, dtype="float32")
    seconds = loops * len(audio) / rate
    wav = os.path.join(folder, "speech.wav")
    with sf.SoundFile(wav, "w", samplerate=rate, channels=1, subtype="PCM_16") as f:
        for _ in range(loops):
            f.write(audio)
    items = {}
    for name, length, lines in (("item", seconds, speech.lines * loops), ("first_second", 1.0, speech.lines[0].split()[:2])):
        video = os.path.join(folder, f"{name}.mp4")
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", os.path.join(corpus, CLIP), "-i", wav]
            + ["-map", "0:v:0", "-map", "1:a:0", "-t", f"{length:.3f}", "-c:v", "libx264", "-b:v", "4M"]
            + ["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", video],
            check=True,
        )
        text = os.path.join(folder, f"{name}.txt")
        with open(text, "w") as f:
            f.write("\n".join(lines) + "\n")
        items[name] = {"id": name, "video": video, "transcript": text}
    return items["item"], items["first_second"], seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=os.environ.get("MMFUSE_CORPUS", os.path.join(ROOT, "..", "shared", "corpus")))
    parser.add_argument("--loops", type=int, default=2, help="copies of the 53.6 s speech recording (the item's length)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each command; the least CPU counts")
    args = parser.parse_args()
    if not os.path.exists(os.path.join(args.corpus, CLIP)):
        print(f"no {CLIP} under {args.corpus}", file=sys.stderr)
        return 2
    py = sys.executable
    with tempfile.TemporaryDirectory() as folder:
        item, first, seconds = make_item(args.corpus, folder, args.loops)

        def per_hour(make_cmd) -> tuple[float, float]:
            """(CPU-s per hour of input, fixed CPU-s) of the command made for an item."""
            long, short = least(make_cmd(item), args.repeat), least(make_cmd(first), args.repeat)
            return (long - short) / (seconds - 1) * 3600, short

        def job(*flags):
            def make(entry):
                manifest = os.path.join(folder, f"{entry['id']}.jsonl")
                with open(manifest, "w") as f:
                    f.write(json.dumps(entry) + "\n")
                out = os.path.join(folder, "out")
                return [py, "-m", "mmfuse.pipelines.extract", "--manifest", manifest, "--output", out, "--overwrite", *flags]

            return make

        rows = {
            "default": per_hour(job()),
            "--shots": per_hour(job("--shots")),
            "--align_words": per_hour(job("--align_words")),
            "--visual efficientnet_lite0": per_hour(job("--visual", "efficientnet_lite0")),
        }
        peers = {
            "opencv": per_hour(lambda e: [py, "-c", _OPENCV, e["video"], "2"]),
            "scenedetect": per_hour(lambda e: [py, "-c", _SCENEDETECT, e["video"]]),
            "cv2_cnn": per_hour(lambda e: [py, "-c", _CV2_CNN, e["video"], "2"]),
        }
    base = rows["default"][0]
    print(
        f"item: Big Buck Bunny 720p H.264 4 Mb/s looped + real speech (gentle's Harvard list x {args.loops}) and its "
        f"transcript, {seconds:.1f} s; least of {args.repeat} run(s); CPU-s per hour of input beyond the 1 s run's fixed cost"
    )
    print(f"{'mmfuse setting':<30} {'CPU-s/hour':>11} {'fixed':>6}   baseline")
    comparisons = {
        "default": ("OpenCV grab/retrieve 2 fps loop, decoding only", peers["opencv"][0], base),
        "--shots": ("PySceneDetect ContentDetector, its whole run", peers["scenedetect"][0], rows["--shots"][0] - base),
        "--align_words": ("the default job it adds to", base, rows["--align_words"][0] - base),
        "--visual efficientnet_lite0": (
            "OpenCV 2 fps loop + the same model, batches of 4",
            peers["cv2_cnn"][0],
            rows["--visual efficientnet_lite0"][0],
        ),
    }
    for name, (cpu, fixed) in rows.items():
        what, peer, ours = comparisons[name]
        extra = "" if name in ("default", "--visual efficientnet_lite0") else f" (extra {ours:.0f})"
        print(
            f"{name:<30} {cpu:11.0f} {fixed:6.1f}   {what}: {peer:.0f} CPU-s/hour -> mmfuse{extra} / baseline {ours / peer:.2f}"
        )
    print(
        f"baselines' fixed costs (1 s run): OpenCV {peers['opencv'][1]:.1f}, PySceneDetect {peers['scenedetect'][1]:.1f}, "
        f"OpenCV + model {peers['cv2_cnn'][1]:.1f} CPU-s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
