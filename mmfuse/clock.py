"""The media clock: exact integer microseconds, and the half-open window grid.

A frame's time is ``PTS × time_base`` computed with rationals and rounded once, minus the
container's start. Window *i* covers ``[i·hop, i·hop + window)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Union

__all__ = ["US_PER_SECOND", "WindowGrid", "format_us", "pts_to_us", "seconds_to_us", "us_to_pts"]

US_PER_SECOND = 1_000_000
Number = Union[int, float, str, Fraction]


def _round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def pts_to_us(pts: int, time_base: Fraction, origin_us: int = 0) -> int:
    """Media-clock microseconds of a timestamp: ``round(pts × time_base × 10⁶) − origin_us``."""
    if pts is None:
        raise ValueError("timestamp is missing (no PTS)")
    return _round_half_up(Fraction(pts) * Fraction(time_base) * US_PER_SECOND) - origin_us


def us_to_pts(t_us: int, time_base: Fraction, origin_us: int = 0) -> int:
    """The largest stream timestamp whose time is at or before ``t_us`` (for seeking)."""
    return math.floor(Fraction(t_us + origin_us, US_PER_SECOND) / Fraction(time_base))


def seconds_to_us(seconds: Number) -> int:
    """Exact conversion of a duration in seconds (as typed by a user) to microseconds.

    Strings and floats are read as their decimal text, so ``0.1`` is exactly 100000 µs.
    """
    value = Fraction(str(seconds)) if isinstance(seconds, float) else Fraction(seconds)
    us = value * US_PER_SECOND
    if us.denominator != 1:
        raise ValueError(f"{seconds} s is not a whole number of microseconds")
    return int(us)


@dataclass(frozen=True)
class WindowGrid:
    """Windows ``[i·hop_us, i·hop_us + window_us)`` for i = 0, 1, …"""

    window_us: int
    hop_us: int

    def __post_init__(self):
        if self.window_us <= 0 or self.hop_us <= 0:
            raise ValueError("window and hop must be positive")

    @classmethod
    def from_seconds(cls, window: Number, hop: Number) -> "WindowGrid":
        return cls(seconds_to_us(window), seconds_to_us(hop))

    def bounds(self, index: int) -> tuple[int, int]:
        start = index * self.hop_us
        return start, start + self.window_us

    def count(self, duration_us: int) -> int:
        """Number of windows that start before ``duration_us``."""
        if duration_us <= 0:
            return 0
        return -(-duration_us // self.hop_us)

    def containing(self, t_us: int) -> range:
        """Indices of the windows whose half-open span holds the instant ``t_us``."""
        if t_us < 0:
            return range(0)
        last = t_us // self.hop_us
        first = max(0, (t_us - self.window_us) // self.hop_us + 1)
        return range(first, last + 1)

    def overlapping(self, start_us: int, end_us: int) -> range:
        """Indices of the windows that share time with ``[start_us, end_us)``.

        A zero-length interval is an instant and belongs to the windows containing it.
        """
        if end_us <= start_us:
            return self.containing(start_us)
        if end_us <= 0:
            return range(0)
        # window i overlaps iff i·hop < end and i·hop + window > start
        last = (end_us - 1) // self.hop_us
        first = max(0, (start_us - self.window_us) // self.hop_us + 1)
        return range(first, last + 1)

    def starting_in(self, start_us: int, end_us: int | None) -> range:
        """Indices of the windows whose start lies in ``[start_us, end_us)``."""
        first = max(0, -(-start_us // self.hop_us))
        if end_us is None:
            raise ValueError("an open-ended span has no finite window range")
        last = -(-end_us // self.hop_us)  # first index whose start is >= end_us
        return range(first, max(first, last))


def format_us(us: int) -> str:
    """A media-clock time for a message: seconds, or hours from one hour on."""
    return f"{us / 3.6e9:.2f} h" if us >= 3_600_000_000 else f"{us / 1e6:.2f} s"
