"""Audio features of a window's samples: log-mel or MFCC statistics, as librosa computes them.

Input is mono float32 at 16 kHz. Frames of 25 ms every 10 ms (no padding) are taken inside the
window only, so a window's features depend on its own samples and nothing else.

The log-mel path computes librosa's Slaney mel filterbank, periodic Hann window and power to dB
itself, in numpy (the test checks them against librosa's own): importing librosa's filters
pulls in numba, scipy.signal and scipy.stats, 2-3 s of CPU in every worker process, for one
matrix. MFCCs (librosa's DCT of the log-mels) still import librosa.
"""

from __future__ import annotations

import numpy as np

from mmfuse.schemas.tables import FeatureSpec

__all__ = ["AUDIO_EXTRACTORS", "AudioExtractor", "make_audio_extractor"]

AUDIO_EXTRACTORS = ("logmel", "mfcc")
SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, ``htk=False``): linear to 1 kHz, log above."""
    f = np.asarray(f, np.float64)
    mel = f / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """``(n_mels, 1 + n_fft // 2)`` triangular filters on Slaney's mel scale, each normalised
    to unit area (``norm="slaney"``): ``librosa.filters.mel`` with its defaults."""
    fmax = sr / 2 if fmax is None else fmax
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


class AudioExtractor:
    """Mean and standard deviation over time of log-mel bands (``logmel``) or MFCCs."""

    def __init__(self, name: str = "logmel", n_mels: int = 64, n_mfcc: int = 20):
        if name not in AUDIO_EXTRACTORS:
            raise ValueError(f"unknown audio extractor {name!r}; choose one of {list(AUDIO_EXTRACTORS)}")
        if n_mels < 1 or n_mfcc < 1:
            raise ValueError("n_mels and n_mfcc must be positive")
        self.name, self.n_mels, self.n_mfcc = name, n_mels, n_mfcc
        self.dim = 2 * (n_mels if name == "logmel" else n_mfcc)
        self.min_samples = N_FFT
        self._mel_basis = None

    def log_mel(self, samples: np.ndarray) -> np.ndarray:
        """(frames, n_mels) log-mel energies in dB."""
        if self._mel_basis is None:
            self._mel_basis = mel_filterbank(SAMPLE_RATE, N_FFT, self.n_mels, fmin=0.0, fmax=SAMPLE_RATE / 2)
        x = np.ascontiguousarray(samples, np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP].T  # (N_FFT, frames), no padding
        window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann, as librosa uses
        power = np.abs(np.fft.rfft(frames * window[:, None], axis=0)) ** 2
        # einsum's own loops, not BLAS: a multi-threaded BLAS sums in an order that depends on
        # its thread count, and the features would differ in the last bit between workers
        mel = np.einsum("mk,kt->mt", self._mel_basis, power.astype(np.float32, copy=False))
        return (10.0 * np.log10(np.maximum(mel, 1e-10))).T.astype(np.float32)  # power_to_db, ref 1.0

    def __call__(self, samples: np.ndarray) -> np.ndarray | None:
        if len(samples) < self.min_samples:
            return None
        feats = self.log_mel(samples)
        if self.name == "mfcc":
            import librosa

            feats = librosa.feature.mfcc(S=feats.T, n_mfcc=self.n_mfcc).T
        return np.concatenate([feats.mean(axis=0), feats.std(axis=0)]).astype(np.float32)

    def spec(self) -> FeatureSpec:
        config = {
            "sample_rate": SAMPLE_RATE,
            "n_fft": N_FFT,
            "hop_length": HOP,
            "window": "hann",
            "n_mels": self.n_mels,
            "scale": "power dB (ref 1.0)",
            "layout": "mean over frames, then std over frames",
        }
        if self.name == "mfcc":
            config["n_mfcc"] = self.n_mfcc
        return FeatureSpec(self.name, self.dim, config)


def make_audio_extractor(name: str, n_mels: int = 64) -> AudioExtractor:
    return AudioExtractor(name, n_mels=n_mels)
