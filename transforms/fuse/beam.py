"""Stage fuse as Beam steps: window rows keyed by (media_id, window_index) from plans, frames
and audio (FuseWindows); media rows joined from plans, decode reports and later stages' figures
(MediaRows); and the run's counts over media rows (RunCounts).

Every window of the grid up to an item's duration gets a row, plus any window past it that
still holds decoded data.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterator, Optional

import apache_beam as beam
import numpy as np

from mmfuse.clock import WindowGrid
from mmfuse.schemas.records import TAG_COLUMNS, AudioWindow, FrameRecord, ItemPlan
from mmfuse.settings import FeatureSettings
from mmfuse.transforms.counters import JobCounter
from mmfuse.transforms.deadletter import ERRORS, Guarded, error_record, failed_media_row
from mmfuse.transforms.features import make_text_extractor
from mmfuse.transforms.fuse.media_rows import QUALITY, media_row, quality_values
from mmfuse.transforms.fuse.windows import WindowText, mean_visual, window_texts

__all__ = ["FuseWindows", "MediaRows", "RunCounts"]

_UNTAGGED = "untagged"


def _seeds(plan: ItemPlan, grid: WindowGrid) -> Iterator:
    """One seed per window of the grid: its text (None without cues) and the item's tags."""
    texts = window_texts(plan.cues, grid, plan.n_windows)
    tags = plan.info.item.tags()
    for i in range(plan.n_windows):
        yield (plan.media_id, i), (texts.get(i), tags)


def _frame_keys(frame: FrameRecord, grid: WindowGrid) -> Iterator:
    for i in grid.containing(frame.pts_us):
        yield (frame.media_id, i), frame


class _FuseFn(beam.DoFn):
    def __init__(self, grid: WindowGrid, features: FeatureSettings):
        self.grid, self.features = grid, features
        self.windows = JobCounter("windows")

    def setup(self):
        # Fitted (tfidf) and model (minilm) text features are added after fusion.
        hashing = self.features.text == "hashing"
        self.text = make_text_extractor(self.features.text, self.features.text_features) if hashing else None

    def process(self, element) -> Iterator[dict]:
        try:
            row = self._row(element)
        except Exception as err:  # dead letter: this window is lost, the job goes on
            yield beam.pvalue.TaggedOutput(ERRORS, error_record(element[0][0], None, "fuse", err))
            return
        self.windows.inc()
        yield row if "label" in row else beam.pvalue.TaggedOutput(_UNTAGGED, row)

    def _row(self, element) -> dict:
        (media_id, index), groups = element
        seed = next(iter(groups["seed"]), None)  # None: a window past the item's duration
        text: Optional[WindowText] = seed[0] if seed else None
        tags = seed[1] if seed else {}  # such rows get the item's tags in FuseWindows
        visual, n_frames = mean_visual(groups["frames"])
        audio = next(iter(groups["audio"]), None)
        start, end = self.grid.bounds(index)
        text_vec = self.text(list(text.tokens)) if (text is not None and self.text is not None) else None
        return {
            "media_id": media_id,
            "window_index": index,
            "start_us": start,
            "end_us": end,
            "has_video": n_frames > 0,
            "has_audio": audio is not None,
            "has_text": text is not None,
            "n_frames": n_frames,
            "visual": None if visual is None else np.asarray(visual, np.float32),
            "audio": None if audio is None else np.asarray(audio.features, np.float32),
            "text": None if text_vec is None else np.asarray(text_vec, np.float32),
            "transcript": None if text is None else text.transcript,
            "tokens": None if text is None else list(text.tokens),
            "cue_indices": None if text is None else list(text.cue_indices),
            **tags,
        }


class FuseWindows(beam.PTransform):
    """``{"plans", "frames", "audio"}`` → ``{"windows": rows (dicts in the ``windows/``
    schema), "errors": dead letters}``.

    Every window of the grid up to the item's duration gets a row, plus any window past it
    that still holds decoded data.
    """

    def __init__(self, grid: WindowGrid, features: FeatureSettings):
        super().__init__()
        self.grid, self.features = grid, features

    def expand(self, pcolls):
        grid = self.grid
        seeds = pcolls["plans"] | "WindowSeeds" >> Guarded(_seeds, "window_text", grid)
        frames = pcolls["frames"] | "FramesToWindows" >> Guarded(_frame_keys, "fuse", grid)
        grouped = {"seed": seeds.main, "frames": frames.main, "audio": pcolls["audio"] | "KeyAudio" >> beam.Map(_key_audio)}
        rows = (
            grouped
            | "JoinWindows" >> beam.CoGroupByKey()
            | "FuseRows" >> beam.ParDo(_FuseFn(self.grid, self.features)).with_outputs(ERRORS, _UNTAGGED, main="windows")
        )
        # the few windows past an item's duration meet its tags here: one small element per
        # item joins them, instead of every window going through a join by item
        late = {
            "rows": rows[_UNTAGGED] | "KeyUntagged" >> beam.Map(lambda r: (r["media_id"], r)),
            "tags": pcolls["plans"] | "ItemTags" >> beam.Map(lambda p: (p.media_id, p.info.item.tags())),
        } | "JoinLateTags" >> beam.CoGroupByKey()
        tagged = late | "TagLate" >> beam.FlatMap(_with_tags)
        windows = (rows.windows, tagged) | "AllWindows" >> beam.Flatten()
        errors = (seeds[ERRORS], frames[ERRORS], rows[ERRORS]) | "FuseErrors" >> beam.Flatten()
        return {"windows": windows, "errors": errors}


def _with_tags(element) -> Iterator[dict]:
    _, groups = element
    tags = next(iter(groups["tags"]), None) or dict.fromkeys(TAG_COLUMNS)
    for row in groups["rows"]:
        yield {**row, **tags}


def _key_audio(a: AudioWindow):
    return (a.media_id, a.window_index), a


class _MediaRowFn(beam.DoFn):
    def process(self, element):
        media_id, groups = element
        plans = list(groups["plan"])
        # Items that failed to probe have no plan: their row comes from the planning stage.
        if not plans:
            return
        try:
            facts = {}
            for f in groups["facts"]:
                facts.update(f)
            yield media_row(plans[0], groups["reports"], sum(groups["windows"]), sum(groups["errors"]), facts)
        except Exception as err:  # the item still gets a row, so every input is accounted for
            yield beam.pvalue.TaggedOutput(ERRORS, error_record(media_id, plans[0].info.item.uri, "media_row", err))
            yield failed_media_row(plans[0].info.item, sum(groups["errors"]) + 1)


class MediaRows(beam.PTransform):
    """``{"plans", "reports", "windows", "errors", "failed"[, "facts"]}`` → ``{"media": media/
    rows, "errors": dead letters of making them}``; ``facts`` are ``(media_id, dict)``
    figures of later stages."""

    def expand(self, pcolls):
        keyed = {
            "plan": pcolls["plans"] | "KeyPlans" >> beam.Map(lambda p: (p.media_id, p)),
            "reports": pcolls["reports"] | "KeyReports" >> beam.Map(lambda r: (r.media_id, r)),
            "windows": pcolls["windows"]
            | "KeyWindows" >> beam.Map(lambda w: (w["media_id"], 1))
            | "CountWindows" >> beam.CombinePerKey(sum),
            "errors": pcolls["errors"]
            | "KeyErrors" >> beam.Map(lambda e: (e.media_id, 1))
            | "CountErrors" >> beam.CombinePerKey(sum),
            "facts": pcolls["facts"] if "facts" in pcolls else pcolls["plans"].pipeline | "NoFacts" >> beam.Create([]),
        }
        rows = (
            keyed
            | "JoinMedia" >> beam.CoGroupByKey()
            | "MediaRow" >> beam.ParDo(_MediaRowFn()).with_outputs(ERRORS, main="media")
        )
        return {"media": (rows.media, pcolls["failed"]) | "AllMediaRows" >> beam.Flatten(), "errors": rows[ERRORS]}


class RunCounts(beam.CombineFn):
    """Counts for ``run.json`` over media rows and error records:
    ``inputs = ok + failed``, where ``ok`` includes ``partial`` items; ``skipped`` counts the
    items carried over from an earlier run (of any status but failed); and a
    ``quality`` summary: the dataset mean of each alignment and quality figure over the items
    that have it (``…_over_…`` entries are shares of items)."""

    def create_accumulator(self):
        return Counter()

    def add_input(self, acc: Counter, element: dict):
        if "stage" in element:  # an errors/ row
            acc[f"error:{element['error_type']}"] += 1
            acc["errors"] += 1
            return acc
        acc["inputs"] += 1
        status = element["status"]
        acc["failed" if status == "failed" else "ok"] += 1
        if status == "partial":
            acc["partial"] += 1
        if element.get("carried_over") or status == "skipped":  # "skipped": a run before carried_over
            acc["skipped"] += 1
        acc["windows"] += element.get("n_windows") or 0
        acc["frames"] += element.get("n_frames") or 0
        for name, value in quality_values(element):
            acc[f"sum:{name}"] += value
            acc[f"n:{name}"] += 1
        return acc

    def merge_accumulators(self, accumulators):
        total = Counter()
        for acc in accumulators:
            total.update(acc)
        return total

    def extract_output(self, acc: Counter) -> dict:
        counts = {k: int(acc.get(k, 0)) for k in ("inputs", "ok", "failed", "partial", "skipped", "windows", "frames", "errors")}
        counts["errors_by_type"] = {k.split(":", 1)[1]: int(v) for k, v in sorted(acc.items()) if k.startswith("error:")}
        quality = {}
        for name in QUALITY:
            n = acc.get(f"n:{name}", 0)
            quality[name] = {"items": int(n), "mean": round(acc[f"sum:{name}"] / n, 4) if n else None}
        counts["quality"] = quality
        return counts
