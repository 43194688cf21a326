"""Stage align as Beam steps.

Per item, before windowing (``AlignItems``): subtitle offset and drift, A/V offset, word timings;
``--apply_transcript_offset`` moves cues before they are assigned to windows, while video
decoding starts from the unaligned plans meanwhile.

Shots and alignment by content (``ItemShots``, ``AlignByContent``)::

    cuts of every chunk ─┐
    plans ───────────────┼─ CoGroupByKey(media_id) ─► shots/ rows, shots per item
    decode reports ──────┘
    plans, shots, frames ─ CoGroupByKey(media_id) ─► per item: cue texts, shot pictures
        ─► (text, picture) pairs ─► CombineGlobally(SampleFn) ─► CCA fit ─► artifact (side input)
        ─► DP assignment per item ─► alignments/ rows, media facts
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Iterator, Optional

import apache_beam as beam
import numpy as np

from mmfuse.clock import seconds_to_us
from mmfuse.fs import join
from mmfuse.schemas.records import Cue, ItemPlan
from mmfuse.settings import AlignSettings, ContentSettings
from mmfuse.transforms.align.avsync import estimate_av_offset
from mmfuse.transforms.align.semantic import SEMANTIC_CCA, assign_cues, fit_cca, project, training_pairs
from mmfuse.transforms.align.shots import Shot, shots_from_cuts
from mmfuse.transforms.align.speech import AudioCursor
from mmfuse.transforms.align.sync import estimate_offset, item_activity, shift_cues
from mmfuse.transforms.align.words import WordAligner, align_transcript, align_untimed, confident_ratio
from mmfuse.transforms.analyzers.artifacts import Artifact
from mmfuse.transforms.analyzers.beam import LoadArtifact, SaveArtifacts
from mmfuse.transforms.analyzers.combiners import SampleFn
from mmfuse.transforms.counters import JobCounter
from mmfuse.transforms.deadletter import ERRORS, Guarded, error_record
from mmfuse.transforms.features import make_text_extractor
from mmfuse.transforms.text.cues import clamp_cues
from mmfuse.transforms.text.tokens import tokenize

__all__ = ["AlignByContent", "AlignItems", "ItemShots", "WORDS", "shot_rows"]

WORDS = "words"
_LOG = logging.getLogger(__name__)
# Below this confidence an estimated subtitle offset is reported but not used to place cues.
_TRUSTED_SYNC = 0.3


class _AlignItemFn(beam.DoFn):
    def __init__(self, align: AlignSettings, capture_errors: bool):
        self.align, self.capture_errors = align, capture_errors
        self.aligned_words = JobCounter("words_aligned")
        self.unaligned_words = JobCounter("words_unaligned")

    def setup(self):
        self.aligner = WordAligner(self.align.align_method, self.align.language) if self.align.align_words else None

    def process(self, plan: ItemPlan) -> Iterator:
        facts = dict(plan.facts)
        cues, warnings = plan.cues, list(plan.warnings)
        info = plan.info
        stage = "align"
        search_cues = None  # where the words of each cue are looked for, when not at its stated time
        try:
            if self.align.sync_transcripts and cues and plan.timed and info.has_audio:
                stage = "sync_transcript"
                origin, activity = item_activity(AudioCursor(info, capture_errors=self.capture_errors))
                estimate = estimate_offset(activity, origin, cues, seconds_to_us(self.align.max_transcript_offset))
                if estimate is not None:
                    facts.update(
                        transcript_offset_us=estimate.offset_us,
                        transcript_drift_ppm=estimate.drift_ppm,
                        transcript_sync_confidence=estimate.confidence,
                    )
                    trusted = estimate.confidence >= _TRUSTED_SYNC
                    if trusted:  # word alignment looks where the speech is, applied or not
                        search_cues = shift_cues(cues, estimate)
                    if self.align.apply_transcript_offset and trusted:
                        cues, outside = clamp_cues(shift_cues(cues, estimate), info.duration_us, True)
                        facts["transcript_offset_applied"] = True
                        facts["n_cues_clamped"] = outside
                    elif self.align.apply_transcript_offset:
                        facts["transcript_offset_applied"] = False  # confidence below _TRUSTED_SYNC
            if self.align.av_sync and info.has_video and info.has_audio:
                stage = "av_sync"
                av = estimate_av_offset(info, self.align.av_sync_seconds, capture_errors=self.capture_errors)
                if av is not None:
                    facts.update(av_offset_us=av.offset_us, av_sync_confidence=av.confidence)
            if self.aligner is not None and cues and info.has_audio:
                stage = "align_words"
                open_cursor = lambda: AudioCursor(info, capture_errors=self.capture_errors)  # noqa: E731
                if plan.timed:
                    moved = cues if self.align.apply_transcript_offset else search_cues
                    words = list(align_transcript(open_cursor, cues, self.aligner, search_cues=moved))
                else:
                    text = " ".join(c.text for c in cues)
                    cues, words = align_untimed(open_cursor, text, self.aligner)
                    cues = tuple(cues)
                placed = sum(w.confident for w in words)
                facts.update(n_words=len(words), aligned_word_ratio=confident_ratio(words))
                self.aligned_words.inc(placed)
                self.unaligned_words.inc(len(words) - placed)
                for w in words:
                    yield beam.pvalue.TaggedOutput(WORDS, w.as_row(plan.media_id))
        except Exception as err:  # the item goes on without what failed
            if not isinstance(err, (RuntimeError, ValueError, OSError)):
                _LOG.exception("%s of %s failed", stage, plan.media_id)
            record = error_record(plan.media_id, info.audio_uri or info.item.uri, stage, err)
            warnings.append(f"{stage} failed: {record.message}")
            yield beam.pvalue.TaggedOutput(ERRORS, record)
        yield dataclasses.replace(plan, cues=tuple(cues), facts=facts, warnings=tuple(warnings))


class AlignItems(beam.PTransform):
    """Plans → ``{"plans", "words", "errors"}``: plans with alignment facts (and, when asked,
    corrected cues), word rows, dead letters."""

    def __init__(self, align: AlignSettings, capture_errors: bool = True):
        super().__init__()
        self.align, self.capture_errors = align, capture_errors

    def expand(self, plans):
        out = plans | "AlignItem" >> beam.ParDo(_AlignItemFn(self.align, self.capture_errors)).with_outputs(
            WORDS, ERRORS, main="plans"
        )
        return {"plans": out.plans, WORDS: out[WORDS], ERRORS: out[ERRORS]}


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
    """``{"plans", "cuts", "reports"}`` → ``{"shots": (media_id, [Shot]) per item with video,
    "errors": dead letters}``."""

    def expand(self, pcolls):
        keyed = {
            "plan": pcolls["plans"] | "KeyPlan" >> beam.Map(lambda p: (p.media_id, p)),
            "cuts": pcolls["cuts"],
            "reports": pcolls["reports"] | "KeyReport" >> beam.Map(lambda r: (r.media_id, r)),
        }
        shots = keyed | "JoinCuts" >> beam.CoGroupByKey() | "Shots" >> Guarded(_item_shots, "shots")
        return {"shots": shots.main, "errors": shots[ERRORS]}


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
        try:
            yield from list(self._content(element))
        except Exception as err:  # this item is not aligned by content; the job goes on
            yield beam.pvalue.TaggedOutput(ERRORS, error_record(element[0], None, "content", err))

    def _content(self, element):
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


def _align_or_dead_letter(item: ItemContent, cca: Optional[Artifact], prior_us: int) -> Iterator:
    try:
        out = list(_align(item, cca, prior_us))
    except Exception as err:  # this item keeps its stated cue times; the job goes on
        yield beam.pvalue.TaggedOutput(ERRORS, error_record(item.media_id, None, "content", err))
        return
    yield from out


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


class AlignByContent(beam.PTransform):
    """``{"plans", "shots", "frames"}`` → ``{"alignments", "facts", "artifacts", "errors"}``. The CCA is
    fitted on a sample of ``fit_sample`` pairs over the dataset, or read from ``artifacts_from``."""

    def __init__(self, content: ContentSettings, text_features: int, fit_sample: int, artifacts_from: Optional[str], output: str):
        super().__init__()
        self.content, self.text_features, self.fit_sample = content, text_features, fit_sample
        self.artifacts_from, self.output = artifacts_from, output

    def expand(self, pcolls):
        cfg = self.content
        keyed = {
            "plan": pcolls["plans"] | "KeyPlan" >> beam.Map(lambda p: (p.media_id, p)),
            "shots": pcolls["shots"],
            "frames": pcolls["frames"] | "KeyFrames" >> beam.Map(lambda f: (f.media_id, f)),
        }
        content = (
            keyed
            | "JoinContent" >> beam.CoGroupByKey()
            | "Content" >> beam.ParDo(_ItemContentFn(self.text_features)).with_outputs(ERRORS, main="items")
        )
        items = content.items
        p = items.pipeline
        if self.artifacts_from:
            cca = p | "LoadCca" >> LoadArtifact(self.artifacts_from, SEMANTIC_CCA)
        else:
            sample = (
                items
                | "Pairs" >> beam.FlatMap(_pairs)
                | "SamplePairs" >> beam.CombineGlobally(SampleFn(self.fit_sample, key=lambda e: e[0]))
            )
            cca = sample | "FitCca" >> beam.Map(lambda s, dims: fit_cca([pair for _, pair in s], dims), cfg.semantic_dims)
        out = items | "Assign" >> beam.FlatMap(
            _align_or_dead_letter, beam.pvalue.AsSingleton(cca), seconds_to_us(cfg.semantic_prior)
        ).with_outputs("rows", ERRORS, main="facts")
        saved = cca | "SaveCca" >> beam.ParDo(SaveArtifacts(join(self.output, "artifacts")))
        errors = (content[ERRORS], out[ERRORS]) | "ContentErrors" >> beam.Flatten()
        return {"alignments": out.rows, "facts": out.facts, "artifacts": saved, "errors": errors}
