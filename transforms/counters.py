"""Job counters: Beam metrics (reported at the end of a run and in run.json on every runner)
and, on local runs, a live progress line.

The live line needs process-wide state: each worker process keeps its own totals behind a
lock and prints them to stderr at most every two seconds. It only displays; nothing reads it
back, so it never changes what a job computes.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from apache_beam.metrics import Metrics

__all__ = ["NAMESPACE", "PROGRESS_ENV", "JobCounter"]

NAMESPACE = "mmfuse"
PROGRESS_ENV = "MMFUSE_PROGRESS"  # set by the launcher for local runs; workers inherit it
_SHOWN = ("items_probed", "video_chunks", "audio_tracks", "frames", "windows", "errors")


class _Live:
    def __init__(self):
        self.lock = threading.Lock()
        self.totals: dict[str, int] = {}
        self.last = 0.0

    def add(self, name: str, n: int) -> None:
        with self.lock:
            self.totals[name] = self.totals.get(name, 0) + n
            now = time.monotonic()
            if now - self.last < 2.0:
                return
            self.last = now
            parts = [f"{self.totals.get(k, 0)} {k.replace('_', ' ')}" for k in _SHOWN if k in self.totals]
        line = f"mmfuse [{os.getpid()}]: " + ", ".join(parts)
        if sys.stderr.isatty():
            sys.stderr.write("\r" + line + "\x1b[K")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


_LIVE = _Live()


class JobCounter:
    """A Beam counter in the ``mmfuse`` namespace that also feeds the live line."""

    def __init__(self, name: str):
        self.name = name
        self._metric = Metrics.counter(NAMESPACE, name)

    def inc(self, n: int = 1) -> None:
        self._metric.inc(n)
        if n and os.environ.get(PROGRESS_ENV) == "1":
            _LIVE.add(self.name, n)
