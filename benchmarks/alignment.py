"""Word alignment on real human speech, against reference word timings.

Uses the shared corpus's speech/ (recorded speech; references from hand labels and from other
aligners: gentle/Kaldi, HTS, P2FA, SPPAS). Every case is one `mmfuse.pipelines.extract` job with
`--align_words`, in its own process, and is scored from its words/ table:

  untimed text         a plain transcript per item
  timed cues           an SRT per item, one cue per sentence exactly on the speech
  shifted cues         the same SRTs moved by -1.5, +0.5, +1 and +2 s (no --apply_transcript_offset)
  mismatched           each audio with the plain transcript of another recording of similar length
  cost                 CPU seconds of the aligning job minus the same job without --align_words,
                       per minute of speech
  French               SPPAS's French conversation (--language fr): French phonemes on the English
                       model (the default), and espeak-ng + DTW (--align_method tts)
  --hour               an hour of speech (gentle's Harvard list, repeated) with one plain
                       transcript: CPU, peak RSS, onset error

Headline figures use the English items whose references pocketsphinx did not make; the
LibriVox items (references made by pocketsphinx, the model mmfuse aligns with) are shown
apart.

    python benchmarks/alignment.py [--corpus ../shared/corpus] [--hour]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmfuse.testing.corpus import INDEPENDENT_EN as INDEPENDENT  # noqa: E402
from mmfuse.testing.corpus import SpeechItem, onset_errors, percentile, speech_items, write_case  # noqa: E402

SAME_ENGINE = (
    "librivox_austen_0870",
    "librivox_austen_0880",
    "librivox_austen_0890",
    "librivox_austen_0920",
    "librivox_austen_0930",
)
SHIFTS_S = (-1.5, 0.5, 1.0, 2.0)


def run_job(manifest: str, out: str, *flags: str) -> tuple[float, float]:
    """(CPU seconds, peak RSS MiB) of one job in a process of its own."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    code = (
        "import resource, sys; from mmfuse.pipelines.extract import main; rc = main(sys.argv[1:]); "
        "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)"
    )
    args = ["--manifest", manifest, "--output", out, "--overwrite", "--runner", "FnApiRunner", *flags]
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stdout[-2000:] + done.stderr[-3000:])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = next(int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("PEAK")) / 1024
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, peak


def tables(out: str) -> tuple[list[dict], dict]:
    words = pq.read_table(os.path.join(out, "words")).to_pylist()
    media = {m["media_id"]: m for m in pq.read_table(os.path.join(out, "media")).to_pylist()}
    return words, media


def errors_of(words: list[dict], items: list[SpeechItem], plain: bool) -> list[float]:
    return [e for item in items for e in onset_errors(words, item, plain)]


def line(name: str, errors: list[float], extra: str = "") -> str:
    placed = [e for e in errors if e != float("inf")]
    return (
        f"{name:<34} words {len(errors):>4}  median {percentile(errors, 0.5) * 1000:>6.1f} ms  "
        f"p90 {percentile(errors, 0.9) * 1000:>7.1f} ms  placed {len(placed) / max(1, len(errors)):.2f}  {extra}"
    )


def case(folder: str, items: list[SpeechItem], mode: str, shift_us: int = 0, *flags: str):
    manifest = write_case(os.path.join(folder, "in"), items, mode, shift_us)
    out = os.path.join(folder, "out")
    cpu, peak = run_job(manifest, out, "--align_words", *flags)
    words, media = tables(out)
    return words, media, cpu, peak


def hour(corpus: str, folder: str) -> None:
    """One hour of gentle's Harvard list (53.6 s) repeated, with the text repeated, untimed."""
    import soundfile as sf

    (item,) = speech_items(os.path.join(corpus, "speech"), "en", ["gentle_harvard_list30"])
    audio, rate = sf.read(item.audio, dtype="float32")
    n = int(np.ceil(3600 / item.duration_s))
    wav = os.path.join(folder, "hour.wav")
    with sf.SoundFile(wav, "w", samplerate=rate, channels=1, subtype="PCM_16") as f:
        for _ in range(n):
            f.write(audio)
    text = os.path.join(folder, "hour.txt")
    with open(text, "w") as f:
        f.write("\n".join(item.lines * n) + "\n")
    manifest = os.path.join(folder, "hour.jsonl")
    with open(manifest, "w") as f:
        f.write(json.dumps({"id": "hour", "audio": wav, "transcript": text}) + "\n")
    base_cpu, _ = run_job(manifest, os.path.join(folder, "base"))
    cpu, peak = run_job(manifest, os.path.join(folder, "out"), "--align_words")
    words, media = tables(os.path.join(folder, "out"))
    words.sort(key=lambda r: r["word_index"])
    errors = []
    for k in range(n):
        for r, w in zip(words[k * len(item.words) : (k + 1) * len(item.words)], item.words):
            ref = w["start"] + k * len(audio) / rate
            errors.append(float("inf") if r["start_us"] is None else abs(r["start_us"] / 1e6 - ref))
    minutes = n * item.duration_s / 60
    print(line(f"hour ({minutes:.1f} min, plain text)", errors, f"ratio {media['hour']['aligned_word_ratio']}"))
    print(
        f"  whole job with --align_words: {cpu / 3600:.3f} CPU-hours for {minutes:.0f} min of speech ({cpu:.0f} CPU-s; "
        f"without --align_words {base_cpu:.0f}); peak RSS {peak:.0f} MiB  (targets <= 0.5 CPU-hours, <= 1024 MiB)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=os.environ.get("MMFUSE_CORPUS", os.path.join(ROOT, "..", "shared", "corpus")))
    parser.add_argument("--hour", action="store_true", help="also align an hour of speech with one plain transcript")
    args = parser.parse_args()
    speech = os.path.join(args.corpus, "speech")
    if not os.path.isdir(speech):
        print(f"no speech corpus at {speech}", file=sys.stderr)
        return 2
    english = speech_items(speech, "en", INDEPENDENT)
    same = speech_items(speech, "en", SAME_ENGINE)
    minutes = sum(i.duration_s for i in english) / 60
    started = time.time()
    print(f"real English speech: {len(english)} items, {sum(len(i.words) for i in english)} words, {minutes:.2f} min\n")
    with tempfile.TemporaryDirectory() as tmp:
        words, media, cpu, _ = case(os.path.join(tmp, "text"), english, "text")
        base_cpu, _ = run_job(write_case(os.path.join(tmp, "text", "in"), english, "text"), os.path.join(tmp, "base"))
        ratios = ", ".join(f"{m['aligned_word_ratio']:.2f}" for m in media.values())
        print(line("untimed text", errors_of(words, english, True), f"aligned_word_ratio {ratios}"))
        words, _, _, _ = case(os.path.join(tmp, "cues"), english, "cues")
        print(line("timed cues on the speech", errors_of(words, english, False)))
        shifted, offsets = [], []
        for s in SHIFTS_S:
            words, media, _, _ = case(os.path.join(tmp, f"shift{s}"), english, "cues", round(s * 1e6))
            errs = errors_of(words, english, False)
            shifted += errs
            print(line(f"  cues {s:+.1f} s off", errs))
            # --align_words estimates the subtitle offset first (positive: subtitles late)
            offsets += [
                (abs(m["transcript_offset_us"] / 1e6 - s), m["transcript_sync_confidence"])
                if m["transcript_offset_us"] is not None
                else (None, None)
                for m in media.values()
            ]
        print(line("shifted cues, all", shifted))
        estimated = [(e, c) for e, c in offsets if e is not None]
        confident = [e for e, c in estimated if c is not None and c >= 0.3]
        print(
            f"{'subtitle offset (shifted cues)':<34} items {len(offsets):>4}, estimated {len(estimated)}; median error "
            f"{percentile([e for e, _ in estimated], 0.5) * 1000:.1f} ms; confident (>= 0.3) {len(confident)}, "
            f"of them more than 200 ms wrong: {sum(e > 0.2 for e in confident)}  (target 0)"
        )
        every = speech_items(speech, "en")
        _, media, _, _ = case(os.path.join(tmp, "mismatch"), every, "mismatch")
        worst = max(m["aligned_word_ratio"] for m in media.values())
        print(f"{'mismatched transcripts':<34} items {len(media):>4}  aligned_word_ratio max {worst:.2f}  (target <= 0.3)")
        print(
            f"{'cost':<34} {(cpu - base_cpu) / minutes:.1f} CPU-s per minute of speech (aligning job minus the same job without)"
        )
        words, _, _, _ = case(os.path.join(tmp, "same"), same, "text")
        print(line("LibriVox (pocketsphinx references)", errors_of(words, same, True), "same engine: not a fair judge"))
        french = speech_items(speech, "fr")
        for method, label in (("auto", "French phonemes, English model"), ("tts", "French, espeak-ng + DTW")):
            for mode in ("cues", "text"):
                flags = ("--language", "fr", "--align_method", method)
                words, media, _, _ = case(os.path.join(tmp, f"fr_{method}_{mode}"), french, mode, 0, *flags)
                ratio = np.mean([m["aligned_word_ratio"] for m in media.values()])
                name = f"{label}, {'timed cues' if mode == 'cues' else 'untimed'}"
                print(line(name, errors_of(words, french, mode == "text"), f"mean aligned_word_ratio {ratio:.2f}"))
        if args.hour:
            hour(args.corpus, tmp)
    print(f"\n({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
