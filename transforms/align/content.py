"""Shots per item, and the alignment of transcript cues to shots by content, as Beam steps.

cuts of every chunk ─┐
plans ───────────────┼─ CoGroupByKey(media_id) ─► shots/ rows, shots per item
decode reports ──────┘
plans, shots, frames ─ CoGroupByKey(media_id) ─► per item: cue texts, shot pictures
    ─► (text, picture) pairs ─► CombineGlobally(SampleFn) ─► CCA fit ─► artifact (side input)
    ─► DP assignment per item ─► alignments/ rows, media facts
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import apache_beam as beam
import numpy as np

from mmfuse.clock import seconds_to_us
from mmfuse.fs import join
from mmfuse.schemas.records import Cue, ItemPlan
from mmfuse.settings import ExtractConfig
from mmfuse.transforms.align.semantic import assign_cues, fit_cca, project, training_pairs
from mmfuse.transforms.align.shots import Shot, shots_from_cuts
from mmfuse.transforms.analyzers.artifacts import Artifact, load_artifact, save_artifact
from mmfuse.transforms.analyzers.stats import SampleFn
from mmfuse.transforms.features import make_text_extractor
from mmfuse.transforms.text.tokens import tokenize

__all__ = ["AlignByContent", "ItemShots"]


def _item_shots(element) -> Iterator:
    media_id, groups = element
    plans = list(groups["plan"])
    if not plans or not plans[0].info.has_video:
        return
    plan: ItemPlan = plans[0]
    cuts = sorted({t for chunk_cuts in groups["cuts"] for t in chunk_cuts})
    ends = [r.video_end_us for r in groups["reports"] if r.video_end_us is not None]
    start = max(0, plan.info.video.start_us or 0)
    end = max([plan.info.duration_us or 0] + [e + 1 for e in ends])
    yield media_id, shots_from_cuts(cuts, start, end)


class ItemShots(beam.PTransform):
    """``{"plans", "cuts", "reports"}`` → ``(media_id, [Shot])`` per item with video."""

    def expand(self, pcolls):
        keyed = {
            "plan": pcolls["plans"] | "KeyPlan" >> beam.Map(lambda p: (p.media_id, p)),
            "cuts": pcolls["cuts"],
            "reports": pcolls["reports"] | "KeyReport" >> beam.Map(lambda r: (r.media_id, r)),
        }
        return keyed | "JoinCuts" >> beam.CoGroupByKey() | "Shots" >> beam.FlatMap(_item_shots)


def shot_rows(element) -> Iterator[dict]:
    media_id, shots = element
    for s in shots:
        yield {"media_id": media_id, "shot_index": s.index, "start_us": s.start_us, "end_us": s.end_us}


@dataclass
class ItemContent:
    media_id: str
    cues: tuple[Cue, ...]
    shots: list[Shot]
    cue_vecs: list[Optional[np.ndarray]]
    shot_vecs: list[Optional[np.ndarray]]


class _ItemContentFn(beam.DoFn):
    """Text of every cue (hashed words) and picture of every shot (mean frame features)."""

    def __init__(self, text_features: int):
        self.text_features = text_features

    def setup(self):
        self.text = make_text_extractor("hashing", self.text_features)

    def process(self, element):
        media_id, groups = element
        plans, shots = list(groups["plan"]), list(groups["shots"])
        if not plans or not shots or not plans[0].cues:
            return
        shots = shots[0]
        frames = sorted(groups["frames"], key=lambda f: f.pts_us)
        sums: dict[int, list] = {}
        k = 0
        for f in frames:
            while k < len(shots) and f.pts_us >= shots[k].end_us:
                k += 1
            if k < len(shots) and f.pts_us >= shots[k].start_us:
                sums.setdefault(k, []).append(np.asarray(f.features, np.float64))
        shot_vecs = [np.mean(sums[i], axis=0) if i in sums else None for i in range(len(shots))]
        cues = plans[0].cues
        cue_vecs = [self.text(tokenize(c.text)) for c in cues]
        yield ItemContent(media_id, cues, shots, cue_vecs, shot_vecs)


def _pairs(item: ItemContent) -> Iterator:
    for n, pair in enumerate(training_pairs(item.cues, item.cue_vecs, item.shots, item.shot_vecs)):
        yield (item.media_id, n), pair


def _align(item: ItemContent, cca: Optional[Artifact], prior_us: int) -> Iterator:
    m = len(item.shots)
    sim = np.zeros((len(item.cues), m))
    if cca is not None:
        shots = [project(cca, v, "y") for v in item.shot_vecs]
        for i, v in enumerate(item.cue_vecs):
            z = project(cca, v, "x")
            if z is None:
                continue
            for j, s in enumerate(shots):
                if s is not None:
                    sim[i, j] = float(z @ s)
    placements = assign_cues(item.cues, item.shots, sim, prior_us)
    for p in placements:
        yield beam.pvalue.TaggedOutput(
            "rows",
            {
                "media_id": item.media_id,
                "cue_index": p.cue_index,
                "shot_index": p.shot_index,
                "score": p.score,
                "time_shift_us": p.time_shift_us,
            },
        )
    scored = [p.score for p in placements]
    yield (
        item.media_id,
        {
            "semantic_score_mean": round(float(np.mean(scored)), 4) if scored else None,
            "n_cues_moved": sum(1 for p in placements if p.time_shift_us != 0),
        },
    )


class _Save(beam.DoFn):
    def __init__(self, folder: str):
        self.folder = folder

    def process(self, artifact):
        if artifact is not None:
            yield save_artifact(artifact, self.folder)


class AlignByContent(beam.PTransform):
    """``{"plans", "shots", "frames"}`` → ``{"alignments", "facts", "artifacts"}``."""

    def __init__(self, config: ExtractConfig, output: str):
        super().__init__()
        self.config, self.output = config, output

    def expand(self, pcolls):
        cfg = self.config
        keyed = {
            "plan": pcolls["plans"] | "KeyPlan" >> beam.Map(lambda p: (p.media_id, p)),
            "shots": pcolls["shots"],
            "frames": pcolls["frames"] | "KeyFrames" >> beam.Map(lambda f: (f.media_id, f)),
        }
        items = keyed | "JoinContent" >> beam.CoGroupByKey() | "Content" >> beam.ParDo(_ItemContentFn(cfg.text_features))
        p = items.pipeline
        if cfg.artifacts_from:
            cca = (
                p
                | "CcaName" >> beam.Create(["semantic_cca"])
                | "LoadCca" >> beam.Map(lambda n, d: load_artifact(d, n), cfg.artifacts_from)
            )
        else:
            sample = (
                items
                | "Pairs" >> beam.FlatMap(_pairs)
                | "SamplePairs" >> beam.CombineGlobally(SampleFn(cfg.fit_sample, key=lambda e: e[0]))
            )
            cca = sample | "FitCca" >> beam.Map(lambda s, dims: fit_cca([pair for _, pair in s], dims), cfg.semantic_dims)
        out = items | "Assign" >> beam.FlatMap(
            _align, beam.pvalue.AsSingleton(cca), seconds_to_us(cfg.semantic_prior)
        ).with_outputs("rows", main="facts")
        saved = cca | "SaveCca" >> beam.ParDo(_Save(join(self.output, "artifacts")))
        return {"alignments": out.rows, "facts": out.facts, "artifacts": saved}
