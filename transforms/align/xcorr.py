"""Cross-correlation of two envelopes on a common grid, and its refined peak."""

from __future__ import annotations

import numpy as np

__all__ = ["lagged_correlation", "refined_peak"]


def lagged_correlation(x: np.ndarray, y: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lags, corr)`` with ``corr[lag] = mean over t of x[t]·y[t + lag]`` for lags in
    ``[-max_lag, max_lag]``: a peak at lag > 0 means y's events come ``lag`` steps after x's."""
    n = len(x)
    size = 1 << int(np.ceil(np.log2(2 * n + 1)))
    full = np.fft.irfft(np.conj(np.fft.rfft(x, size)) * np.fft.rfft(y, size), size)
    lags = np.arange(-max_lag, max_lag + 1)
    return lags, full[lags % size] / n


def refined_peak(lags: np.ndarray, corr: np.ndarray, exclusion: int) -> tuple[float, float, float]:
    """(lag of the maximum refined by a parabola through its neighbours, the maximum, the best
    value more than ``exclusion`` steps away from it)."""
    i = int(np.argmax(corr))
    lag = float(lags[i])
    if 0 < i < len(corr) - 1:
        y0, y1, y2 = corr[i - 1], corr[i], corr[i + 1]
        denom = y0 - 2 * y1 + y2
        if denom < 0:
            lag += 0.5 * (y0 - y2) / denom
    far = np.abs(lags - lags[i]) > exclusion
    second = float(corr[far].max()) if far.any() else 0.0
    return lag, float(corr[i]), second
