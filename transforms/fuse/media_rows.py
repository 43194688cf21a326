"""The media table: one row per input, whatever became of it, with its quality figures."""

from __future__ import annotations

from typing import Iterable, Optional

from mmfuse.schemas.records import ChunkReport, ItemPlan, StreamInfo, merged_warnings
from mmfuse.transforms.inputs.listing import transcript_language

__all__ = ["QUALITY", "cue_quality", "media_row", "quality_values"]


# Alignment figures an item's plan may carry into its media row.
_FACTS = (
    "transcript_offset_us",
    "transcript_drift_ppm",
    "transcript_sync_confidence",
    "transcript_offset_applied",
    "av_offset_us",
    "av_sync_confidence",
    "n_words",
    "aligned_word_ratio",
    "n_shots",
    "semantic_space",
    "semantic_score_mean",
    "n_cues_moved",
)
# Consecutive cues further apart than this leave a gap in the transcript.
_CUE_GAP_US = 1_000_000


def cue_quality(cues) -> dict:
    """Overlapping neighbours and gaps of a second or more, cues taken in time order."""
    timed = sorted((c for c in cues if c.end_us > c.start_us), key=lambda c: (c.start_us, c.end_us))
    overlaps = sum(1 for a, b in zip(timed, timed[1:]) if b.start_us < a.end_us)
    gaps = sum(1 for a, b in zip(timed, timed[1:]) if b.start_us - a.end_us >= _CUE_GAP_US)
    return {"n_cue_overlaps": overlaps, "n_cue_gaps": gaps}


def _stream_row(s: StreamInfo, selected: Optional[StreamInfo]) -> dict:
    return {
        "index": s.index,
        "kind": s.kind,
        "codec": s.codec,
        "start_us": s.start_us,
        "duration_us": s.duration_us,
        "frame_rate": s.frame_rate,
        "sample_rate": s.sample_rate,
        "channels": s.channels,
        "width": s.width,
        "height": s.height,
        "language": s.language,
        "is_default": s.is_default,
        "selected": selected is not None and selected.index == s.index,
    }


def _shortfall(kind: str, stream: Optional[StreamInfo], decoded_end: Optional[int]) -> tuple[str, ...]:
    """A warning when a stream stops well before its header says it ends (a cut-off file)."""
    if stream is None or not stream.duration_us or decoded_end is None:
        return ()
    expected = (stream.start_us or 0) + stream.duration_us
    if expected - decoded_end > max(1_000_000, expected // 50):
        return (f"{kind} stops at {decoded_end / 1e6:.2f} s but its header says {expected / 1e6:.2f} s (truncated file?)",)
    return ()


def _cut_short(declared_us: Optional[int], ends: list[int]) -> tuple[str, ...]:
    """A warning when the file's streams all stop well before the end its header states."""
    if not declared_us or not ends:
        return ()
    end = max(ends)
    if declared_us - end > max(120_000, declared_us // 100):
        return (f"the file stops at {end / 1e6:.2f} s but its header says {declared_us / 1e6:.2f} s (truncated file?)",)
    return ()


def media_row(
    plan: ItemPlan, reports: Iterable[ChunkReport], n_windows: int, n_errors: int, facts: Optional[dict] = None
) -> dict:
    """The ``media/`` row of a probed item; ``facts`` from later stages join the plan's."""
    info, item = plan.info, plan.info.item
    facts = {**plan.facts, **(facts or {})}
    reports = sorted(reports, key=lambda r: r.chunk_index)
    video_ends = [r.video_end_us for r in reports if r.video_end_us is not None]
    audio_ends = [r.audio_end_us for r in reports if r.audio_end_us is not None]
    warnings = merged_warnings(
        plan.warnings,
        *(r.warnings for r in reports),
        _shortfall("video", info.video, max(video_ends) if video_ends else None),
        _shortfall("audio", info.audio, max(audio_ends) if audio_ends else None),
        _cut_short(info.declared_end_us, video_ends + audio_ends),
    )
    any_failed = any(r.failed for r in reports)
    status = "partial" if (warnings or any_failed or n_errors) else "ok"
    v, a = info.video, info.audio
    audio_start = None
    if info.audio_t0 is not None:
        audio_start = round(info.audio_t0 * 1_000_000)
    streams = [_stream_row(s, v) for s in info.video_streams]
    streams += [_stream_row(s, a) for s in info.audio_streams]
    streams += [_stream_row(s, None) for s in info.other_streams]
    return {
        "media_id": item.media_id,
        "video_uri": item.video_uri,
        "audio_uri": item.audio_uri,
        "transcript_uri": item.transcript_uri
        or (item.video_uri if (plan.transcript_format or "").startswith("embedded:") else None),
        "status": status,
        "duration_us": info.duration_us,
        "n_windows": n_windows,
        "n_frames": sum(r.n_frames for r in reports),
        "n_chunks": sum(1 for r in reports if r.chunk_index >= 0),
        "container_format": info.container_format,
        "video_stream": v.index if v else None,
        "video_codec": v.codec if v else None,
        "width": v.width if v else None,
        "height": v.height if v else None,
        "frame_rate": v.frame_rate if v else None,
        "video_start_us": v.start_us if v else None,
        "video_end_us": max(video_ends) if video_ends else None,
        "audio_stream": a.index if a else None,
        "audio_codec": a.codec if a else None,
        "sample_rate": a.sample_rate if a else None,
        "channels": a.channels if a else None,
        "audio_start_us": audio_start,
        "audio_end_us": max(audio_ends) if audio_ends else None,
        "streams": streams,
        "transcript_format": plan.transcript_format,
        "transcript_language": transcript_language(item.transcript_uri),
        "n_cues": len(plan.cues),
        "n_cues_clamped": facts.get("n_cues_clamped", plan.n_cues_clamped),
        **{k: facts.get(k) for k in _FACTS},
        **cue_quality(plan.cues),
        "av_length_mismatch_us": (max(audio_ends) - max(video_ends)) if audio_ends and video_ends else None,
        "n_warnings": len(warnings),
        "warnings": list(warnings),
        "n_errors": n_errors,
        "fingerprint": item.fingerprint,
        "carried_over": False,
        **item.tags(),
    }


# Per-item figures summarised over the dataset in run.json: (name, media column, transform).
QUALITY = {
    "aligned_word_ratio": ("aligned_word_ratio", float),
    "abs_transcript_offset_s": ("transcript_offset_us", lambda v: abs(v) / 1e6),
    "transcript_offset_over_1s": ("transcript_offset_us", lambda v: float(abs(v) > 1_000_000)),
    "transcript_sync_confidence": ("transcript_sync_confidence", float),
    "av_sync_confidence": ("av_sync_confidence", float),
    # offsets only where the estimate can be trusted (README: confidence >= 0.5); elsewhere a
    # chance peak of the content would read as footage out of sync
    "abs_av_offset_ms": ("confident_av_offset_us", lambda v: abs(v) / 1e3),
    "av_offset_over_40ms": ("confident_av_offset_us", lambda v: float(abs(v) > 40_000)),
    "semantic_score": ("semantic_score_mean", float),
    "cues_moved_by_content": ("n_cues_moved", float),
    "cue_overlaps": ("n_cue_overlaps", float),
    "abs_av_length_mismatch_s": ("av_length_mismatch_us", lambda v: abs(v) / 1e6),
    "partial": ("status", lambda v: float(v == "partial")),
}


AV_CONFIDENT = 0.5


def _value(row: dict, column: str):
    if column == "confident_av_offset_us":
        confident = (row.get("av_sync_confidence") or 0.0) >= AV_CONFIDENT
        return row.get("av_offset_us") if confident else None
    return row.get(column)


def quality_values(row: dict):
    """(name, value) of every dataset-level quality figure a media row has."""
    for name, (column, f) in QUALITY.items():
        value = _value(row, column)
        if value is not None and row.get("status") != "failed":
            yield name, f(value)
