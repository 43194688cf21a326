"""Windows placed among shots and among the cues as content placed them: for each window row
the shot holding its start and the cues whose content-assigned span overlaps it."""

from __future__ import annotations

import bisect
from typing import Iterable, Iterator, Optional, Sequence

from mmfuse.schemas.records import Cue
from mmfuse.transforms.align.shots import Shot

__all__ = ["annotate_windows", "content_span"]


def content_span(cue: Cue, shot: Shot) -> tuple[int, int]:
    """Where content puts ``cue``: its stated span moved the least that brings it inside
    ``shot`` (unmoved when it already is), cut to the shot when it is longer than the shot."""
    length = cue.end_us - cue.start_us
    if length >= shot.end_us - shot.start_us:
        return shot.start_us, shot.end_us
    start = min(max(cue.start_us, shot.start_us), shot.end_us - max(length, 1))  # an instant stays inside
    return start, start + length


def _shot_at(t_us: int, starts: list[int], shots: Sequence[Shot]) -> Optional[int]:
    k = bisect.bisect_right(starts, t_us) - 1
    if k >= 0 and t_us < shots[k].end_us:
        return shots[k].index
    return None


def annotate_windows(
    rows: Iterable[dict], shots: Optional[Sequence[Shot]], spans: Optional[Sequence[tuple[int, int, int]]], content: bool
) -> Iterator[dict]:
    """``rows`` of one item with ``shot_index`` (None without shots or outside them) and, with
    ``content``, ``content_cue_indices``: the cues of ``spans`` ((cue_index, start_us, end_us),
    half-open) that overlap the window, in cue order; None when there are none (as for
    ``cue_indices``) or the item was not aligned by content. A zero-length span counts where
    its instant falls."""
    shots = sorted(shots or (), key=lambda s: s.start_us)
    starts = [s.start_us for s in shots]
    spans = sorted(spans) if spans is not None else None
    for row in rows:
        out = {**row, "shot_index": _shot_at(row["start_us"], starts, shots) if shots else None}
        if content:
            if spans is None:
                out["content_cue_indices"] = None
            else:
                a, b = row["start_us"], row["end_us"]
                found = [i for i, s, e in spans if (s < b and e > a) or (s == e and a <= s < b)]
                out["content_cue_indices"] = found or None
        yield out
