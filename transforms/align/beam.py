"""Stage align as Beam steps.

Per item, before windowing (``AlignItems``): subtitle offset and drift, A/V offset, word timings;
``--apply_transcript_offset`` moves cues before they are assigned to windows, while video
decoding starts from the unaligned plans meanwhile.

Shots and alignment by content (``ItemShots``, ``AlignByContent``)::

    cuts of every chunk ─┐
    plans ───────────────┼─ CoGroupByKey(media_id) ─► shots/ rows, shots per item
    decode reports ──────┘
    plans, shots, frames ─ CoGroupByKey(media_id) ─► per item: cue texts, shot pictures
        (and, zero-shot, each shot's ImageNet classes said in MiniLM space)
        ─► fitted: (text, picture) pairs ─► CombineGlobally(SampleFn) ─► CCA fit, refused
           below --semantic_min_pairs, held-out correlations ─► artifact (side input)
        ─► DP assignment per item ─► alignments/ rows, content spans, media facts
    windows, shots, content spans ─ CoGroupByKey(media_id) ─► windows with shot_index and
        content_cue_indices (``AnnotateWindows``)
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
from mmfuse.transforms.align.placement import annotate_windows, content_span
from mmfuse.transforms.align.semantic import SEMANTIC_CCA, assign_cues, fit_semantic, project, training_pairs
from mmfuse.transforms.align.shots import Shot, shots_from_cuts
from mmfuse.transforms.align.speech import AudioCursor
from mmfuse.transforms.align.sync import estimate_offset, item_activity, shift_cues
from mmfuse.transforms.align.words import WordAligner, align_transcript, align_untimed, confident_ratio
from mmfuse.transforms.align.zeroshot import zero_shot_similarity
from mmfuse.transforms.analyzers.artifacts import Artifact
from mmfuse.transforms.analyzers.beam import LoadArtifact, SaveArtifacts
from mmfuse.transforms.analyzers.combiners import SampleFn
from mmfuse.transforms.counters import JobCounter
from mmfuse.transforms.deadletter import ERRORS, Guarded, error_record
from mmfuse.transforms.features import make_text_extractor
from mmfuse.transforms.text.cues import clamp_cues
from mmfuse.transforms.text.tokens import tokenize

__all__ = ["AlignByContent", "AlignItems", "AnnotateWindows", "ItemShots", "SPANS", "WORDS", "shot_rows"]

WORDS = "words"
SPANS = "spans"
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
    cue_vecs: list[Optional[np.ndarray]]  # MiniLM embeddings or hashed words
    shot_vecs: list[Optional[np.ndarray]]  # mean visual feature of the shot's frames
    shot_descriptions: Optional[list[Optional[np.ndarray]]] = None  # zero-shot, in MiniLM space


class _Holder:  # Shared needs a weak-referenceable object
    pass


class _ItemContentFn(beam.DoFn):
    """Text of every cue (MiniLM or hashed words), picture of every shot (mean frame
    features) and, for zero-shot, each shot's ImageNet classes said in sentence space."""

    def __init__(self, text: str, text_features: int, namer: Optional[str], device: str, weights_sha256: Optional[str]):
        from apache_beam.utils import shared

        self.text, self.text_features, self.namer, self.device = text, text_features, namer, device
        self.weights_sha256 = weights_sha256
        # one model per worker process, shared by its threads (see features.beam._MiniLMFn)
        self._handle = shared.Shared()

    def setup(self):
        self.hashing = make_text_extractor("hashing", self.text_features) if self.text == "hashing" else None
        self.models = None
        if self.text == "minilm" or self.namer:
            self.models = self._handle.acquire(self._load, tag=f"content-{self.namer}-{self.device}")

    def _load(self):
        holder = _Holder()
        if self.namer:
            from mmfuse.transforms.align.zeroshot import ShotNamer

            holder.namer = ShotNamer(self.namer, self.device, self.weights_sha256)
            holder.embed = holder.namer.embed
        else:
            from mmfuse.transforms.features.minilm import embed_sentences, load_minilm

            model = load_minilm(self.device, "--semantic_align with MiniLM text")
            holder.namer = None
            holder.embed = lambda texts: embed_sentences(model, texts)
        return holder

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
        members: dict[int, list] = {}
        k = 0
        for f in frames:
            while k < len(shots) and f.pts_us >= shots[k].end_us:
                k += 1
            if k < len(shots) and f.pts_us >= shots[k].start_us:
                members.setdefault(k, []).append(np.asarray(f.features, np.float64))
        shot_vecs = [np.mean(members[i], axis=0) if i in members else None for i in range(len(shots))]
        cues = plans[0].cues
        if self.models is not None:
            embedded = self.models.embed([c.text for c in cues])
            cue_vecs = [v if np.any(v) else None for v in embedded]
        else:
            cue_vecs = [self.hashing(tokenize(c.text)) for c in cues]
        descriptions = None
        namer = self.models.namer if self.models is not None else None
        if namer is not None:
            descriptions = [
                namer.describe(namer.posteriors(np.stack(members[i])).mean(axis=0)) if i in members else None
                for i in range(len(shots))
            ]
        yield ItemContent(media_id, cues, shots, cue_vecs, shot_vecs, descriptions)


def _pairs(item: ItemContent) -> Iterator:
    for n, pair in enumerate(training_pairs(item.cues, item.cue_vecs, item.shots, item.shot_vecs)):
        yield (item.media_id, n), pair


def _align_or_dead_letter(item: ItemContent, cca: Optional[Artifact], prior_us: int, space: str) -> Iterator:
    try:
        out = list(_align(item, cca, prior_us, space))
    except Exception as err:  # this item keeps its stated cue times; the job goes on
        yield beam.pvalue.TaggedOutput(ERRORS, error_record(item.media_id, None, "content", err))
        return
    yield from out


def _similarity(item: ItemContent, cca: Optional[Artifact], space: str) -> tuple[str, np.ndarray]:
    """The space this item is compared in (``--semantic_space``, with ``auto`` taking the fitted
    space where there is one) and its (cues, shots) similarities; ``stated_times`` and zeros
    when there is none."""
    sim = np.zeros((len(item.cues), len(item.shots)))
    if space != "zero_shot" and cca is not None:
        shots = [project(cca, v, "y") for v in item.shot_vecs]
        for i, v in enumerate(item.cue_vecs):
            z = project(cca, v, "x")
            if z is None:
                continue
            for j, s in enumerate(shots):
                if s is not None:
                    sim[i, j] = float(z @ s)
        return "fitted", sim
    if space != "fitted" and item.shot_descriptions is not None:
        said = [i for i, v in enumerate(item.cue_vecs) if v is not None]
        seen = [j for j, d in enumerate(item.shot_descriptions) if d is not None]
        if said and seen:
            cues = np.stack([item.cue_vecs[i] for i in said])
            pictures = np.stack([item.shot_descriptions[j] for j in seen])
            sim[np.ix_(said, seen)] = zero_shot_similarity(cues, pictures)
        return "zero_shot", sim
    return "stated_times", sim


def _align(item: ItemContent, cca: Optional[Artifact], prior_us: int, space: str) -> Iterator:
    used, sim = _similarity(item, cca, space)
    placements = assign_cues(item.cues, item.shots, sim, prior_us)
    spans = []
    for p in placements:
        cue = item.cues[p.cue_index]
        start, end = content_span(cue, item.shots[p.shot_index])
        spans.append((p.cue_index, start, end))
        yield beam.pvalue.TaggedOutput(
            "rows",
            {
                "media_id": item.media_id,
                "cue_index": p.cue_index,
                "shot_index": p.shot_index,
                "space": used,
                "score": p.score,
                "similarity": p.similarity,
                "time_shift_us": p.time_shift_us,
                "stated_start_us": cue.start_us,
                "stated_end_us": cue.end_us,
                "content_start_us": start,
                "content_end_us": end,
            },
        )
    yield beam.pvalue.TaggedOutput(SPANS, (item.media_id, spans))
    scored = [p.score for p in placements if p.score is not None]
    yield (
        item.media_id,
        {
            "semantic_space": used,
            "semantic_score_mean": round(float(np.mean(scored)), 4) if scored else None,
            "n_cues_moved": sum(1 for p in placements if p.time_shift_us != 0),
        },
    )


def _fit(sample, dims: int, min_pairs: int, x_name: str, y_name: str, fallback: str):
    artifact, report = fit_semantic([(key[0], pair) for key, pair in sample], dims, min_pairs, x_name, y_name)
    if artifact is None:
        report["warning"] = f"{report['warning']}; {fallback}"
    warning = report.get("warning") or artifact.params.get("warning")
    if warning:
        _LOG.warning("%s", warning)
    return artifact, report


class AlignByContent(beam.PTransform):
    """``{"plans", "shots", "frames"}`` → ``{"alignments", "spans", "facts", "artifacts",
    "errors"}``; ``spans``: (media_id, [(cue_index, content_start_us, content_end_us)]) per
    aligned item. The fitted space is learned on a sample of ``fit_sample`` pairs over the
    dataset, or read from ``artifacts_from``; the zero-shot one needs ``namer`` (a pretrained
    model of ``features.pretrained``, whose frames' features ``frames`` carry)."""

    def __init__(
        self,
        content: ContentSettings,
        text: str,
        text_features: int,
        fit_sample: int,
        artifacts_from: Optional[str],
        output: str,
        namer: Optional[str] = None,
        device: str = "cpu",
        weights_sha256: Optional[str] = None,
        visual: str = "visual",
    ):
        super().__init__()
        self.content, self.text, self.text_features, self.fit_sample = content, text, text_features, fit_sample
        self.artifacts_from, self.output = artifacts_from, output
        self.namer, self.device, self.weights_sha256, self.visual = namer, device, weights_sha256, visual

    def expand(self, pcolls):
        cfg = self.content
        keyed = {
            "plan": pcolls["plans"] | "KeyPlan" >> beam.Map(lambda p: (p.media_id, p)),
            "shots": pcolls["shots"],
            "frames": pcolls["frames"] | "KeyFrames" >> beam.Map(lambda f: (f.media_id, f)),
        }
        namer = self.namer if cfg.semantic_space != "fitted" else None
        content_fn = _ItemContentFn(self.text, self.text_features, namer, self.device, self.weights_sha256)
        content = (
            keyed | "JoinContent" >> beam.CoGroupByKey() | "Content" >> beam.ParDo(content_fn).with_outputs(ERRORS, main="items")
        )
        items = content.items
        p = items.pipeline
        prior = seconds_to_us(cfg.semantic_prior)
        reports = []
        if cfg.semantic_space == "zero_shot":
            cca = None
        elif self.artifacts_from:
            loaded = p | "LoadCca" >> LoadArtifact(self.artifacts_from, SEMANTIC_CCA)
            # kept in this run's artifacts/ like the analyzers it applies, refusal included
            save = SaveArtifacts(join(self.output, "artifacts"), SEMANTIC_CCA, self.artifacts_from)
            reports.append(loaded | "SaveCca" >> beam.ParDo(save))
            cca = beam.pvalue.AsSingleton(loaded)
        else:
            x_name = "MiniLM embedding of the cue" if self.text == "minilm" else "hashed cue words"
            y_name = f"mean {self.visual} feature of the shot"
            fallback = "cues are placed zero-shot" if namer else "cues keep their stated times"
            fitted = (
                items
                | "Pairs" >> beam.FlatMap(_pairs)
                | "SamplePairs" >> beam.CombineGlobally(SampleFn(self.fit_sample, key=lambda e: e[0]))
                | "FitCca" >> beam.Map(_fit, cfg.semantic_dims, cfg.semantic_min_pairs, x_name, y_name, fallback)
            )
            model = fitted | "Cca" >> beam.Map(lambda f: f[0])
            # a refused fit is recorded too, so a run applying this folder knows why it is absent
            saved = fitted | "CcaOrReport" >> beam.Map(lambda f: f[0] if f[0] is not None else f[1])
            reports.append(saved | "SaveCca" >> beam.ParDo(SaveArtifacts(join(self.output, "artifacts"))))
            cca = beam.pvalue.AsSingleton(model)
        out = items | "Assign" >> beam.FlatMap(_align_or_dead_letter, cca, prior, cfg.semantic_space).with_outputs(
            "rows", SPANS, ERRORS, main="facts"
        )
        errors = (content[ERRORS], out[ERRORS]) | "ContentErrors" >> beam.Flatten()
        made = {"alignments": out.rows, SPANS: out[SPANS], "facts": out.facts, "errors": errors}
        if reports:
            made["artifacts"] = tuple(reports) | "CcaReports" >> beam.Flatten()
        return made


def _annotated(element, content: bool) -> Iterator:
    media_id, groups = element
    rows = list(groups["windows"])
    shots = next(iter(groups["shots"]), None)
    spans = next(iter(groups[SPANS]), None) if content else None
    try:
        out = list(annotate_windows(rows, shots, spans, content))
    except Exception as err:  # the rows go on without the shot columns; nothing is lost
        yield beam.pvalue.TaggedOutput(ERRORS, error_record(media_id, None, "annotate_windows", err))
        out = list(annotate_windows(rows, None, None, content))
    yield from out


class AnnotateWindows(beam.PTransform):
    """``{"windows", "shots"[, "spans"]}`` → ``{"windows": rows with ``shot_index`` and, when
    ``spans`` are given (``--semantic_align``), ``content_cue_indices``; "errors"}``."""

    def expand(self, pcolls):
        content = SPANS in pcolls
        keyed = {
            "windows": pcolls["windows"] | "KeyWindows" >> beam.Map(lambda r: (r["media_id"], r)),
            "shots": pcolls["shots"],
            **({SPANS: pcolls[SPANS]} if content else {}),
        }
        out = (
            keyed
            | "JoinWindows" >> beam.CoGroupByKey()
            | "Annotate" >> beam.FlatMap(_annotated, content).with_outputs(ERRORS, main="windows")
        )
        return {"windows": out.windows, "errors": out[ERRORS]}
