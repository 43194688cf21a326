"""Fault injection, for the tests that prove a killed job or a crashed decoder loses nothing:
``MMFUSE_FAULT=<point>`` makes the process kill itself (SIGKILL, as the kernel's OOM killer or
a crashing decoder would end it) when it reaches ``<point>``. Unset, it does nothing."""

from __future__ import annotations

import os
import signal

__all__ = ["FAULT_ENV", "fault"]

FAULT_ENV = "MMFUSE_FAULT"


def fault(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)
