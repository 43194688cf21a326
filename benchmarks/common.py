"""What the benchmark scripts share: test media made by ffmpeg, and running the pipeline."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ffmpeg_testsrc(
    path: str, seconds: int, size: str, rate: int, video_args: list, audio_rate: int = 44100, tone_hz: int = 440
) -> str:
    """testsrc2 pictures with a sine tone, encoded by ffmpeg with ``video_args``; made once."""
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".part.mp4"
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size={size}:rate={rate}:duration={seconds}",
                "-f",
                "lavfi",
                "-i",
                f"sine=frequency={tone_hz}:sample_rate={audio_rate}:duration={seconds}",
                *video_args,
                "-c:a",
                "aac",
                "-shortest",
                tmp,
            ],
            check=True,
        )
        os.replace(tmp, path)
    return path


def run_extract(manifest: str, output: str, *flags: str, runner: str = "FnApiRunner") -> None:
    """One `mmfuse.pipelines.extract` job over a manifest, in its own process."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mmfuse.pipelines.extract",
            "--manifest",
            manifest,
            "--output",
            output,
            "--overwrite",
            "--runner",
            runner,
            *flags,
        ],
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
        stdout=subprocess.DEVNULL,
    )
