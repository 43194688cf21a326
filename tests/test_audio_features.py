"""The log-mel path computes librosa's filterbank and dB scale in numpy; librosa is the truth."""

import subprocess
import sys

import numpy as np
import pytest

from mmfuse.transforms.features.audio import HOP, N_FFT, SAMPLE_RATE, AudioExtractor, mel_filterbank

librosa = pytest.importorskip("librosa")


@pytest.mark.parametrize(
    "sr,n_fft,n_mels,fmin,fmax", [(16000, 400, 64, 0.0, 8000.0), (22050, 2048, 128, 0.0, None), (16000, 512, 40, 300.0, 6000.0)]
)
def test_mel_filterbank_is_librosas(sr, n_fft, n_mels, fmin, fmax):
    ours = mel_filterbank(sr, n_fft, n_mels, fmin=fmin, fmax=fmax)
    theirs = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-9)


def test_log_mel_is_librosas_melspectrogram_in_db():
    t = np.arange(SAMPLE_RATE * 2) / SAMPLE_RATE
    rng = np.random.default_rng(0)
    x = (0.3 * np.sin(2 * np.pi * 440 * t) * (t > 0.7) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    x[: SAMPLE_RATE // 2] = 0.0  # digital silence: the dB floor (amin) decides these frames
    ours = AudioExtractor("logmel").log_mel(x)
    mel = librosa.feature.melspectrogram(
        y=x,
        sr=SAMPLE_RATE,
        n_fft=N_FFT,
        hop_length=HOP,
        center=False,
        window="hann",
        power=2.0,
        n_mels=64,
        fmin=0.0,
        fmax=SAMPLE_RATE / 2,
    )
    theirs = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).T
    assert ours.shape == theirs.shape == (1 + (len(x) - N_FFT) // HOP, 64)
    np.testing.assert_allclose(ours, theirs, atol=2e-3)  # dB; float32 FFTs in different orders


def test_log_mel_features_do_not_import_librosa():
    code = (
        "import sys, numpy as np\n"
        "from mmfuse.transforms.features.audio import AudioExtractor\n"
        "AudioExtractor('logmel')(np.zeros(16000, np.float32))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'librosa', 'numba'}), 'scipy.signal' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["[]", "False"], out


def test_log_mel_does_not_depend_on_blas_threads():
    """Workers run with different BLAS thread counts (Dask's nanny sets one); the features
    must be the same to the bit."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    x = np.random.default_rng(1).standard_normal(SAMPLE_RATE * 4).astype(np.float32)
    windows = [x[i : i + SAMPLE_RATE] for i in range(0, len(x), SAMPLE_RATE)]
    free = np.stack([AudioExtractor("logmel")(w) for w in windows])
    with threadpoolctl.threadpool_limits(1):
        one = np.stack([AudioExtractor("logmel")(w) for w in windows])
    assert np.array_equal(free, one)
