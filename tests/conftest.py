"""Shared fixtures: generated media with events at known times, and the third-party corpus."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mmfuse.testing import Event, SyntheticSpec, make_media, write_srt

# Beam 2.77's DirectRunner may try to fetch a runner binary first; tests pin the in-process
# portable runner instead.
RUNNER = "FnApiRunner"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLASHES = (Event(2.0, 0.2), Event(5.5, 0.12))
TONES = (Event(3.5, 0.3, 1000.0), Event(6.25, 0.25, 660.0))
CUES = (
    (500_000, 1_500_000, "The first cue."),
    (2_500_000, 4_700_000, "A cue over three windows."),
    (6_000_000, 6_000_000, "An instant."),
)


def corpus_path() -> Path | None:
    value = os.environ.get("MMFUSE_CORPUS")
    return Path(value).resolve() if value else None


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The third-party corpus: skipped when MMFUSE_CORPUS is unset, an error when it is set
    but missing (CI sets it and must run these tests)."""
    path = corpus_path()
    if path is None:
        pytest.skip("MMFUSE_CORPUS is not set")
    if not path.is_dir():
        pytest.fail(f"MMFUSE_CORPUS={path} is not a folder")
    return path


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def events_video(media_dir) -> dict:
    """8 s of H.264 + AAC at 25 fps / 44.1 kHz with white flashes and tone bursts at known
    times, and an SRT whose cues are known."""
    path = media_dir / "events.mp4"
    truth = make_media(str(path), SyntheticSpec(duration_s=8, flashes=FLASHES, tones=TONES))
    srt = media_dir / "events.srt"
    write_srt(str(srt), CUES)
    return {"video": str(path), "srt": str(srt), "truth": truth}


@pytest.fixture(scope="session")
def video_only(media_dir) -> str:
    path = media_dir / "video_only.mp4"
    make_media(str(path), SyntheticSpec(duration_s=3, audio=False, fps=30, flashes=(Event(1.0, 0.1),)))
    return str(path)


@pytest.fixture(scope="session")
def corrupt_file(media_dir) -> str:
    path = media_dir / "corrupt.mp4"
    # fixed bytes: about 1 in 200 random 2 KiB blocks opens as some container (lrc lyrics, …)
    path.write_bytes(random.Random(0).randbytes(2048))
    return str(path)


@pytest.fixture(scope="session")
def damaged_video(media_dir) -> str:
    """An MKV with a tenth of its bytes overwritten in the middle: the rest decodes."""
    src = media_dir / "damaged_src.mkv"
    make_media(str(src), SyntheticSpec(duration_s=6, width=96, height=64, noise=6, gop=25), container_format="matroska")
    data = bytearray(src.read_bytes())
    n = len(data)
    data[int(n * 0.45) : int(n * 0.55)] = random.Random(1).randbytes(int(n * 0.55) - int(n * 0.45))
    path = media_dir / "damaged.mkv"
    path.write_bytes(bytes(data))
    return str(path)


def kill_group(proc: subprocess.Popen) -> None:
    """Kill a process started with ``start_new_session=True`` and every process it started."""
    os.killpg(proc.pid, signal.SIGKILL)


def run_cli(args, timeout: float = 300, module: str = "mmfuse.pipelines.extract", cwd: str = ROOT) -> str:
    """``python -m module args`` in a process group of its own, killed whole when it overruns (a
    worker process that cannot start hangs silently); its output, asserting it exited 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args], cwd=cwd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise
    assert proc.returncode == 0, out.decode()[-3000:]
    return out.decode()


@contextlib.contextmanager
def running_job(args, cwd: str = ROOT):
    """``python -m mmfuse.pipelines.extract args`` in a process group of its own, yielded once
    its first progress line shows the job is running (stdout discarded, stderr a text pipe);
    the group is killed on the way out if it is still there."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mmfuse.pipelines.extract", *args],
        cwd=cwd,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MMFUSE_PROGRESS": "1"},  # progress lines on stderr, not only on a terminal
    )
    try:
        first = proc.stderr.readline()
        assert first.startswith("mmfuse ["), first
        yield proc
    finally:
        if proc.poll() is None:
            kill_group(proc)


def shot_boundaries(path: str, chunks) -> list[int]:
    """The boundaries ``--shots`` finds in ``path``, decoded chunk by chunk as the job does
    (each chunk with the job's pre- and post-roll, keeping the boundaries it owns)."""
    from mmfuse.transforms.align.shots import CutDetector
    from mmfuse.transforms.media.video import iter_sampled_frames

    found = []
    for c in chunks:
        d = CutDetector()
        list(iter_sampled_frames(path, 0, 0, c, 2, lambda f: None, watch=d.feed, preroll_us=1_000_000, postroll_us=500_000))
        found += [t for t in d.finish() if c.contains(t)]
    return found
