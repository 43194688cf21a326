"""Language-independent alignment, as aeneas does it: speak the text with espeak-ng, then
match the synthetic speech to the real one by dynamic time warping over MFCCs.

espeak-ng is used through its C library (Debian package espeak-ng), which reports where in
the synthetic audio each word starts, so the warping path carries word onsets over to the
real audio.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass
from typing import Optional

import numpy as np

from mmfuse.transforms.media.audio import TARGET_RATE

__all__ = ["EspeakUnavailable", "Synthesizer", "TtsAligner", "WordTime", "phonemes"]

# The library keeps global state (one voice, one callback): every call in a process goes
# through this lock. It guards the C library, not data shared between elements.
_LIBRARY_LOCK = threading.Lock()
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_RATE = 1
_EVENT_LIST_TERMINATED, _EVENT_WORD = 0, 1


class EspeakUnavailable(RuntimeError):
    """espeak-ng's library is not installed (Debian: apt-get install espeak-ng)."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_LIB = {}  # process-wide handle to the loaded library, created on first use


def _library():
    with _LIBRARY_LOCK:
        if "lib" not in _LIB:
            name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
            try:
                lib = ctypes.CDLL(name)
            except OSError as err:
                raise EspeakUnavailable(f"cannot load espeak-ng ({err}); install the espeak-ng package") from err
            lib.espeak_Initialize.restype = ctypes.c_int
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
            lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
            lib.espeak_Synth.argtypes = [
                ctypes.c_void_p,
                ctypes.c_size_t,
                ctypes.c_uint,
                ctypes.c_int,
                ctypes.c_uint,
                ctypes.c_uint,
                ctypes.POINTER(ctypes.c_uint),
                ctypes.c_void_p,
            ]
            lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
            lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
            rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0)
            if rate <= 0:
                raise EspeakUnavailable("espeak-ng failed to initialise (is espeak-ng-data installed?)")
            _LIB["lib"], _LIB["rate"] = lib, rate
        return _LIB["lib"], _LIB["rate"]


@dataclass(frozen=True)
class WordTime:
    start_us: int
    end_us: int
    score: float


def phonemes(text: str, voice: str = "en-us") -> str:
    """espeak-ng's ASCII phoneme mnemonics of one word or clause (``"hello"`` → ``"h@l'oU"``)."""
    lib, _ = _library()
    with _LIBRARY_LOCK:
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EspeakUnavailable(f"espeak-ng has no voice {voice!r}")
        pointer = ctypes.c_char_p(text.encode("utf-8"))
        out = lib.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_UTF8, 0)
    return (out or b"").decode("utf-8", "replace")


class Synthesizer:
    """Speech for a text, at 16 kHz, with the sample where each word starts."""

    def __init__(self, voice: str = "en-us", words_per_minute: int = 170):
        self.voice = voice
        self.words_per_minute = words_per_minute

    def speak(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """(samples, [(character offset, onset sample), …]) with leading and trailing
        silence removed."""
        lib, rate = _library()
        chunks: list[np.ndarray] = []
        events: list[tuple[int, int]] = []
        total = [0]

        def callback(wav, n, ev):
            if n > 0:
                chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
                total[0] += n
            i = 0
            while ev[i].type != _EVENT_LIST_TERMINATED:
                if ev[i].type == _EVENT_WORD:
                    events.append((ev[i].text_position - 1, ev[i].sample))
                i += 1
            return 0

        cb = _CALLBACK(callback)
        data = text.encode("utf-8") + b"\0"
        with _LIBRARY_LOCK:
            lib.espeak_SetSynthCallback(cb)
            if lib.espeak_SetVoiceByName(self.voice.encode()) != 0:
                raise EspeakUnavailable(f"espeak-ng has no voice {self.voice!r}")
            lib.espeak_SetParameter(_RATE, int(self.words_per_minute), 0)
            lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        wav = np.concatenate(chunks).astype(np.float32) / 32768.0 if chunks else np.zeros(0, np.float32)
        nz = np.flatnonzero(wav)
        if len(nz) == 0:
            return np.zeros(0, np.float32), []
        lead, tail = nz[0], nz[-1] + 1
        wav = wav[lead:tail]
        g = np.gcd(rate, TARGET_RATE)
        from scipy.signal import resample_poly  # 1-3 s to import: only when speech is made

        speech = resample_poly(wav, TARGET_RATE // g, rate // g).astype(np.float32)
        onsets = [(pos, max(0, round((s - lead) * TARGET_RATE / rate))) for pos, s in events]
        return speech, onsets


def _mfcc(samples: np.ndarray) -> np.ndarray:
    """(frames, 12) MFCCs on the 10 ms grid, without c0, mean-normalised over the frames that
    are not silence. A little noise keeps digital silence from dominating the cepstrum."""
    import librosa

    noise = np.random.default_rng(0).normal(0.0, 3e-4, len(samples)).astype(np.float32)
    m = librosa.feature.mfcc(y=samples + noise, sr=TARGET_RATE, n_mfcc=13, n_fft=400, hop_length=160, center=False)
    energy, m = m[0], m[1:]
    voiced = energy > np.percentile(energy, 30)
    ref = m[:, voiced] if voiced.sum() > 5 else m
    return (m - ref.mean(axis=1, keepdims=True)).T


# Warping steps with slopes between 1/2 and 2: speech may be up to twice as fast or slow as
# the synthetic rendering, but no stretch of one maps onto a single instant of the other.
_STEPS = np.array([[1, 1], [1, 2], [2, 1]])


class TtsAligner:
    """Word onsets inside a stretch of real speech, from a synthetic rendering of its text."""

    def __init__(self, synthesizer: Synthesizer):
        self.synth = synthesizer

    def align(self, samples: np.ndarray, words: list[str]) -> Optional[list[WordTime]]:
        """Word times in microseconds from the start of ``samples``; None when it fails."""
        import librosa

        if not words or len(samples) < 800:
            return None
        text = " ".join(words)
        speech, onsets = self.synth.speak(text)
        if len(speech) < 800:
            return None
        onset_by_word = _word_onsets(words, onsets, len(speech))
        x, y = _mfcc(speech), _mfcc(samples)
        if len(x) < 2 or len(y) < len(x) // 3:
            return None
        try:
            _, path = librosa.sequence.dtw(X=x.T, Y=y.T, subseq=True, metric="euclidean", step_sizes_sigma=_STEPS, backtrack=True)
        except librosa.util.exceptions.ParameterError:
            return None
        path = path[::-1]
        if not np.isfinite(path).all() or len(path) < 2:
            return None
        # Real frame of every synthetic frame (frames the steps jump over are interpolated).
        real_of = np.interp(np.arange(len(x)), path[:, 0], path[:, 1])
        local = np.linalg.norm(x - y[np.clip(np.round(real_of).astype(int), 0, len(y) - 1)], axis=1)
        scale = np.median(np.linalg.norm(x, axis=1)) + 1e-6
        frame_us = 10_000

        # Real time of a synthetic sample position, through the warping path.
        def real_us(sample: int) -> int:
            f = min(len(x) - 1, sample // 160)
            rest = sample - f * 160  # samples past the frame's start, at the local pace
            return int(round(real_of[f] * frame_us + rest * 1_000_000 / TARGET_RATE))

        out: list[Optional[WordTime]] = []
        for k, onset in enumerate(onset_by_word):
            stop = onset_by_word[k + 1] if k + 1 < len(words) else len(speech)
            f0, f1 = min(len(x) - 1, onset // 160), min(len(x), max(onset // 160 + 1, stop // 160))
            start, end = real_us(onset), real_us(stop)
            score = float(np.exp(-np.mean(local[f0:f1]) / scale))
            out.append(WordTime(start, max(start, end), score))
        return out


def _word_onsets(words: list[str], events: list[tuple[int, int]], n_samples: int) -> list[int]:
    """Synthetic onset sample of every word. espeak-ng reports no event for some unstressed
    words ("of the"); their onsets are interpolated by character position."""
    starts = _char_offsets(words)
    known: dict[int, int] = {0: 0}
    for pos, sample in events:
        k = _word_at(starts, pos)
        if k is not None and k not in known:
            known[k] = sample
    chars = starts + [starts[-1] + len(words[-1]) + 1]
    anchors = sorted(known.items())
    xs = [chars[k] for k, _ in anchors] + [chars[-1]]
    ys = [s for _, s in anchors] + [n_samples]
    return [int(round(np.interp(chars[k], xs, ys))) for k in range(len(words))]


def _char_offsets(words: list[str]) -> list[int]:
    offsets, pos = [], 0
    for w in words:
        offsets.append(pos)
        pos += len(w) + 1
    return offsets


def _word_at(starts: list[int], pos: int) -> Optional[int]:
    k = None
    for i, s in enumerate(starts):
        if s <= pos:
            k = i
        else:
            break
    return k
