"""Synthetic speech with exact word times (espeak-ng), for unit tests of the aligner."""

from __future__ import annotations

from typing import Sequence

import av
import numpy as np

__all__ = ["make_speech"]


def make_speech(
    path: str,
    sentences: Sequence[str],
    voice: str = "en-us",
    words_per_minute: int = 160,
    lead_in_s: float = 0.5,
    gap_s: float | Sequence[float] = 0.7,
    tail_s: float = 0.5,
) -> list[tuple[int, int, str]]:
    """Speech from espeak-ng, one sentence after another with silences of known length
    (``gap_s``: one length, or one per gap), as a 16 kHz WAV; returns each sentence's exact
    ``(start_us, end_us, text)``. Needs espeak-ng."""
    from mmfuse.transforms.align.tts import Synthesizer

    synth = Synthesizer(voice=voice, words_per_minute=words_per_minute)
    rate = 16000
    pieces = [np.zeros(int(lead_in_s * rate), np.float32)]
    truth = []
    position = len(pieces[0])
    for k, text in enumerate(sentences):
        speech, _ = synth.speak(text)
        truth.append((position * 1_000_000 // rate, (position + len(speech)) * 1_000_000 // rate, text))
        pieces.append(speech)
        gap = gap_s if isinstance(gap_s, (int, float)) else gap_s[k % len(gap_s)]
        silence = np.zeros(int((gap if k + 1 < len(sentences) else tail_s) * rate), np.float32)
        pieces.append(silence)
        position += len(speech) + len(silence)
    samples = np.concatenate(pieces)
    out = av.open(path, mode="w", format="wav")
    stream = out.add_stream("pcm_s16le", rate=rate)
    stream.codec_context.layout = "mono"
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)[None, :]
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    frame.sample_rate = rate
    frame.pts = 0
    for packet in stream.encode(frame):
        out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    return truth


# Concepts a story's shots show (a flat colour) and its narration names.
