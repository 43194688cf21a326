"""Audio features of a window's samples with librosa: log-mel or MFCC statistics.

Input is mono float32 at 16 kHz. Frames of 25 ms every 10 ms (no padding) are taken inside the
window only, so a window's features depend on its own samples and nothing else.
"""

from __future__ import annotations

import numpy as np

from mmfuse.schemas.tables import FeatureSpec

__all__ = ["AUDIO_EXTRACTORS", "AudioExtractor", "make_audio_extractor"]

AUDIO_EXTRACTORS = ("logmel", "mfcc")
SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160


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
        import librosa

        if self._mel_basis is None:
            self._mel_basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=self.n_mels, fmin=0.0, fmax=SAMPLE_RATE / 2)
        frames = librosa.util.frame(np.ascontiguousarray(samples, np.float32), frame_length=N_FFT, hop_length=HOP)
        window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann, as librosa uses
        power = np.abs(np.fft.rfft(frames * window[:, None], axis=0)) ** 2
        mel = self._mel_basis @ power
        return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).T.astype(np.float32)

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
