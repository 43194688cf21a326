"""Per-item alignment as a Beam step: subtitle offset and drift, A/V offset, word timings.

Runs on probed items before windowing, so ``--apply_transcript_offset`` moves cues before
they are assigned to windows; video decoding starts from the unaligned plans meanwhile.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Iterator

import apache_beam as beam

from mmfuse.clock import seconds_to_us
from mmfuse.schemas.records import ItemPlan
from mmfuse.settings import ExtractConfig
from mmfuse.transforms.align.avsync import estimate_av_offset
from mmfuse.transforms.align.speech import AudioCursor
from mmfuse.transforms.align.sync import estimate_offset, item_activity, shift_cues
from mmfuse.transforms.align.words import WordAligner, align_transcript, align_untimed
from mmfuse.transforms.counters import Counter
from mmfuse.transforms.media.plan import clamp_cues, error_record

__all__ = ["AlignItems", "ERRORS", "WORDS"]

WORDS = "words"
ERRORS = "errors"
_LOG = logging.getLogger(__name__)
# Below this confidence an estimated subtitle offset is reported but not used to place cues.
_TRUSTED_SYNC = 0.3


class _AlignItemFn(beam.DoFn):
    def __init__(self, config: ExtractConfig):
        self.config = config
        self.aligned_words = Counter("words_aligned")
        self.unaligned_words = Counter("words_unaligned")

    def setup(self):
        self.aligner = WordAligner(self.config.align_method, self.config.language) if self.config.align_words else None

    def process(self, plan: ItemPlan) -> Iterator:
        facts = dict(plan.facts)
        cues, warnings = plan.cues, list(plan.warnings)
        info = plan.info
        stage = "align"
        try:
            if self.config.sync_transcripts and cues and plan.timed and info.has_audio:
                stage = "sync_transcript"
                origin, activity = item_activity(AudioCursor(info, capture_errors=self.config.decode_threads == 1))
                estimate = estimate_offset(activity, origin, cues, seconds_to_us(self.config.max_transcript_offset))
                if estimate is not None:
                    facts.update(
                        transcript_offset_us=estimate.offset_us,
                        transcript_drift_ppm=estimate.drift_ppm,
                        transcript_sync_confidence=estimate.confidence,
                    )
                    trusted = estimate.confidence >= _TRUSTED_SYNC
                    if self.config.apply_transcript_offset and trusted:
                        cues, outside = clamp_cues(shift_cues(cues, estimate), info.duration_us, True)
                        facts["transcript_offset_applied"] = True
                        facts["n_cues_clamped"] = outside
                    elif self.config.apply_transcript_offset:
                        facts["transcript_offset_applied"] = False  # confidence below _TRUSTED_SYNC
            if self.config.av_sync and info.has_video and info.has_audio:
                stage = "av_sync"
                av = estimate_av_offset(info, self.config.av_sync_seconds, capture_errors=self.config.decode_threads == 1)
                if av is not None:
                    facts.update(av_offset_us=av.offset_us, av_sync_confidence=av.confidence)
            if self.aligner is not None and cues and info.has_audio:
                stage = "align_words"
                open_cursor = lambda: AudioCursor(info, capture_errors=self.config.decode_threads == 1)  # noqa: E731
                if plan.timed:
                    words = list(align_transcript(open_cursor, cues, self.aligner))
                else:
                    text = " ".join(c.text for c in cues)
                    cues, words = align_untimed(open_cursor, text, self.aligner)
                    cues = tuple(cues)
                placed = sum(w.start_us is not None for w in words)
                facts.update(n_words=len(words), aligned_word_ratio=round(placed / len(words), 4) if words else None)
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

    def __init__(self, config: ExtractConfig):
        super().__init__()
        self.config = config

    def expand(self, plans):
        out = plans | "AlignItem" >> beam.ParDo(_AlignItemFn(self.config)).with_outputs(WORDS, ERRORS, main="plans")
        return {"plans": out.plans, WORDS: out[WORDS], ERRORS: out[ERRORS]}
