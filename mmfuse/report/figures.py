"""The report's plots (matplotlib, drawn to PNG; usable in a notebook as figures).

- :func:`quality_histogram`: the distribution of one ``media/`` figure over the items;
- :func:`item_timeline`: one item on the media clock, rows from top to bottom: waveform,
  cues as written, cues as placed (subtitle sync, content), aligned words, shots, windows.
  The axes fill the figure's whole width, so a click at ``x`` of the image is time
  ``x / width × duration`` (the page uses that to seek the video).
"""

from __future__ import annotations

import io
from typing import Optional, Sequence

import numpy as np

__all__ = ["QUALITY_COLUMNS", "item_timeline", "png", "quality_histogram"]

# media/ columns shown as distributions, with the unit they are drawn in
QUALITY_COLUMNS = {
    "transcript_offset_us": ("subtitle offset", 1e-6, "s"),
    "transcript_sync_confidence": ("subtitle sync confidence", 1.0, ""),
    "av_offset_us": ("A/V offset", 1e-3, "ms"),
    "av_sync_confidence": ("A/V sync confidence", 1.0, ""),
    "aligned_word_ratio": ("aligned word ratio", 1.0, ""),
    "semantic_score_mean": ("semantic score", 1.0, ""),
    "n_cues_moved": ("cues moved by content", 1.0, ""),
    "n_cue_overlaps": ("cue overlaps", 1.0, ""),
    "n_cue_gaps": ("cue gaps", 1.0, ""),
    "av_length_mismatch_us": ("audio end − video end", 1e-6, "s"),
}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig, dpi: int = 80) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    _plt().close(fig)
    return buf.getvalue()


def quality_histogram(values: Sequence[float], column: str):
    """A histogram of one figure (``column`` of media/) over the items that have it."""
    plt = _plt()
    label, scale, unit = QUALITY_COLUMNS.get(column, (column, 1.0, ""))
    x = np.asarray([v for v in values if v is not None], np.float64) * scale
    fig, ax = plt.subplots(figsize=(3.6, 2.2))
    if len(x):
        ax.hist(x, bins=min(30, max(5, len(x) // 2)), color="#4a7bb7")
    ax.set_title(f"{label} ({len(x)} items)", fontsize=9)
    ax.set_xlabel(unit, fontsize=8)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def _spans(ax, y: float, spans, color: str, height: float = 0.7, labels: bool = False) -> None:
    from matplotlib.patches import Rectangle

    for start, end, text in spans:
        ax.add_patch(Rectangle((start, y - height / 2), max(end - start, 1e-3), height, color=color, alpha=0.75, linewidth=0))
        if labels and text:
            ax.text(start, y, text[:18], fontsize=6, va="center", clip_on=True)


def item_timeline(
    duration_s: float,
    wave: Optional[tuple[np.ndarray, float, int]],
    cues_written: Sequence[tuple[float, float, str]],
    cues_placed: Sequence[tuple[float, float, str]],
    words: Sequence[tuple[float, float, str]],
    shots: Sequence[tuple[float, float]],
    windows: Sequence[tuple[float, float]],
    width_px: int = 1100,
):
    """The timeline figure of one item (times in seconds on the media clock)."""
    plt = _plt()
    rows = ["waveform", "cues as written", "cues as placed", "words", "shots", "windows"]
    fig = plt.figure(figsize=(width_px / 80, 2.6))
    ax = fig.add_axes((0, 0.08, 1, 0.92))
    duration = max(duration_s, 1e-3)
    ax.set_xlim(0, duration)
    ax.set_ylim(-0.5, len(rows) - 0.5)
    y = {name: len(rows) - 1 - i for i, name in enumerate(rows)}
    if wave is not None:
        samples, start, rate = wave
        n = len(samples)
        step = max(1, n // (width_px * 2))
        env = np.abs(samples[: n - n % step].reshape(-1, step)).max(axis=1) if n >= step else np.abs(samples)
        t = start + np.arange(len(env)) * step / rate
        peak = max(float(env.max()), 1e-6) if len(env) else 1.0
        ax.fill_between(t, y["waveform"] - 0.45 * env / peak, y["waveform"] + 0.45 * env / peak, color="#555", linewidth=0)
    _spans(ax, y["cues as written"], cues_written, "#e0a040", labels=True)
    _spans(ax, y["cues as placed"], cues_placed, "#40a060", labels=True)
    _spans(ax, y["words"], words, "#7060c0")
    for k, (start, end) in enumerate(shots):
        _spans(ax, y["shots"], [(start, end, "")], "#c05050" if k % 2 else "#d08080")
        ax.axvline(start, color="#c05050", linewidth=0.6, alpha=0.6)
    for k, (start, end) in enumerate(windows):
        _spans(ax, y["windows"], [(start, end, "")], "#bbbbbb" if k % 2 else "#dddddd")
    for name, row in y.items():
        ax.text(0.002 * duration, row + 0.38, name, fontsize=6, color="#333", va="top")
    ax.set_yticks([])
    ax.tick_params(axis="x", labelsize=7, pad=1)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    return fig
