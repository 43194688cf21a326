"""Fuse modalities on the window grid: one row per item × window ``[i·hop, i·hop + window)``.

Frames join every window their time falls in, the audio of a window comes from its own span,
and a cue joins every window it overlaps (a zero-length cue, the windows holding its instant).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence

import apache_beam as beam
import numpy as np

from mmfuse.clock import WindowGrid
from mmfuse.schemas.records import AudioWindow, Cue, FrameRecord, ItemPlan
from mmfuse.settings import ExtractConfig
from mmfuse.transforms.counters import Counter
from mmfuse.transforms.features import make_text_extractor
from mmfuse.transforms.text.tokens import tokenize

__all__ = ["FuseWindows", "WindowText", "cue_windows", "mean_visual", "window_texts"]


@dataclass(frozen=True)
class WindowText:
    transcript: str
    tokens: tuple[str, ...]
    cue_indices: tuple[int, ...]


def cue_windows(cues: Sequence[Cue], grid: WindowGrid, n_windows: Optional[int] = None) -> dict[int, list[int]]:
    """Window index → indices of the cues that overlap it, in cue order."""
    out: dict[int, list[int]] = {}
    for k, cue in enumerate(cues):
        for i in grid.overlapping(cue.start_us, cue.end_us):
            if n_windows is not None and i >= n_windows:
                break
            out.setdefault(i, []).append(k)
    return out


def window_texts(cues: Sequence[Cue], grid: WindowGrid, n_windows: Optional[int] = None) -> dict[int, WindowText]:
    """Transcript text and tokens of every window that some cue overlaps."""
    tokens = [tokenize(c.text) for c in cues]
    texts = [" ".join(c.text.split()) for c in cues]
    return {
        i: WindowText(" ".join(texts[k] for k in ks), tuple(t for k in ks for t in tokens[k]), tuple(ks))
        for i, ks in cue_windows(cues, grid, n_windows).items()
    }


def mean_visual(frames: Iterable[FrameRecord]) -> tuple[Optional[np.ndarray], int]:
    """Mean of the frames' features, summed in time order so the result never depends on the
    order frames arrived in."""
    ordered = sorted(frames, key=lambda f: f.pts_us)
    if not ordered:
        return None, 0
    stacked = np.stack([f.features for f in ordered]).astype(np.float64)
    return stacked.mean(axis=0).astype(np.float32), len(ordered)


def _seeds(plan: ItemPlan, grid: WindowGrid) -> Iterator:
    texts = window_texts(plan.cues, grid, plan.n_windows)
    for i in range(plan.n_windows):
        yield (plan.media_id, i), texts.get(i)


def _frame_keys(frame: FrameRecord, grid: WindowGrid) -> Iterator:
    for i in grid.containing(frame.pts_us):
        yield (frame.media_id, i), frame


class _FuseFn(beam.DoFn):
    def __init__(self, config: ExtractConfig):
        self.config = config
        self.windows = Counter("windows")

    def setup(self):
        # Fitted (tfidf) and model (minilm) text features are added after fusion.
        self.text = make_text_extractor(self.config.text, self.config.text_features) if self.config.text == "hashing" else None

    def process(self, element) -> Iterator[dict]:
        (media_id, index), groups = element
        seeds = list(groups["seed"])
        text: Optional[WindowText] = next((s for s in seeds if s is not None), None)
        visual, n_frames = mean_visual(groups["frames"])
        audio = next(iter(groups["audio"]), None)
        start, end = self.config.grid.bounds(index)
        text_vec = self.text(list(text.tokens)) if (text is not None and self.text is not None) else None
        self.windows.inc()
        yield {
            "media_id": media_id,
            "window_index": index,
            "start_us": start,
            "end_us": end,
            "has_video": n_frames > 0,
            "has_audio": audio is not None,
            "has_text": text is not None,
            "n_frames": n_frames,
            "visual": None if visual is None else visual.tolist(),
            "audio": None if audio is None else audio.features.tolist(),
            "text": None if text_vec is None else text_vec.tolist(),
            "transcript": None if text is None else text.transcript,
            "tokens": None if text is None else list(text.tokens),
            "cue_indices": None if text is None else list(text.cue_indices),
        }


class FuseWindows(beam.PTransform):
    """``{"plans", "frames", "audio"}`` → window rows (dicts in the ``windows/`` schema).

    Every window of the grid up to the item's duration gets a row, plus any window past it
    that still holds decoded data.
    """

    def __init__(self, config: ExtractConfig):
        super().__init__()
        self.config = config

    def expand(self, pcolls):
        grid = self.config.grid
        seeds = pcolls["plans"] | "WindowSeeds" >> beam.FlatMap(_seeds, grid)
        frames = pcolls["frames"] | "FramesToWindows" >> beam.FlatMap(_frame_keys, grid)
        audio = pcolls["audio"] | "KeyAudio" >> beam.Map(_key_audio)
        grouped = {"seed": seeds, "frames": frames, "audio": audio} | "JoinWindows" >> beam.CoGroupByKey()
        return grouped | "FuseRows" >> beam.ParDo(_FuseFn(self.config))


def _key_audio(a: AudioWindow):
    return (a.media_id, a.window_index), a
