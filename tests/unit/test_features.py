"""Wav2Lip mel features against an independent librosa/scipy reference."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from scipy.signal import lfilter

from actors.engines.avatar.features import (
    _mel_basis,
    mel_windows,
    melspectrogram,
    to_float_16k,
    window_starts,
)

pytestmark = pytest.mark.unit


def reference_mel(audio: np.ndarray, pad_mode: str = "reflect") -> np.ndarray:
    """Wav2Lip's audio.melspectrogram, spelled out with librosa primitives.

    Wav2Lip pinned librosa 0.7, whose stft default pad_mode was "reflect".
    """
    emphasised = lfilter([1, -0.97], [1], audio)
    spec = librosa.stft(y=emphasised, n_fft=800, hop_length=200, win_length=800, pad_mode=pad_mode)
    basis = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    db = 20 * np.log10(np.maximum(1e-5, basis @ np.abs(spec))) - 20
    return np.clip(8 * ((db + 100) / 100) - 4, -4, 4)


def speechlike(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    voiced = np.sin(2 * np.pi * 140 * t) + 0.5 * np.sin(2 * np.pi * 1130 * t)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    audio = 0.3 * voiced * envelope + 0.02 * rng.standard_normal(len(t))
    audio[len(t) // 3 : len(t) // 2] = 0.0  # a pause
    return audio.astype(np.float32)


@pytest.mark.parametrize("n_samples", [16000, 37_913, 401, 2])
def test_matches_librosa_reference(n_samples):
    audio = speechlike(n_samples / 16000 + 0.01)[:n_samples]
    ours = melspectrogram(audio)
    ref = reference_mel(audio)
    assert ours.dtype == np.float32
    assert ours.shape == ref.shape == (80, 1 + n_samples // 200)
    assert np.abs(ours - ref).max() < 1e-3


def test_filterbank_is_librosas_slaney_filterbank():
    ref = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    ours = _mel_basis()
    assert ours.shape == ref.shape == (80, 401)
    # Relative to the largest weight (~0.027): the filters, not just their sums, agree.
    assert np.abs(ours - ref).max() < 1e-6 * np.abs(ref).max()
    assert (ours.sum(axis=1) > 0).all()  # no empty band at 800-point resolution


def test_serving_does_not_import_librosa():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; from actors.engines.avatar.features import melspectrogram; "
        "melspectrogram(np.zeros(1600, np.float32)); print('librosa' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_edge_padding_is_reflect_not_installed_librosa_default():
    audio = speechlike(1.0)
    ours = melspectrogram(audio)
    constant = reference_mel(audio, pad_mode="constant")
    # The first column sees the padding; the reference test above would not notice otherwise.
    assert np.abs(ours[:, 0] - constant[:, 0]).max() > 0.01


def test_int16_input_is_scaled_like_float():
    audio = speechlike(0.5)
    pcm16 = np.round(audio * 32767).astype(np.int16)
    assert np.abs(melspectrogram(pcm16) - melspectrogram(pcm16 / np.float32(32768))).max() < 1e-5


def test_other_rates_are_resampled_to_16k():
    t16 = np.arange(16000) / 16000
    t24 = np.arange(24000) / 24000
    tone16 = (0.4 * np.sin(2 * np.pi * 440 * t16)).astype(np.float32)
    tone24 = (0.4 * np.sin(2 * np.pi * 440 * t24)).astype(np.float32)
    assert len(to_float_16k(tone24, 24000)) == 16000
    mel16, mel24 = melspectrogram(tone16), melspectrogram(tone24, sample_rate=24000)
    assert mel24.shape == mel16.shape
    inner = slice(2, -2)  # resampler edge transients aside
    assert np.abs(mel24[:, inner] - mel16[:, inner]).mean() < 0.05


def test_values_stay_within_four_and_silence_is_minus_four():
    noise = np.random.default_rng(1).uniform(-1, 1, 8000).astype(np.float32)
    mel = melspectrogram(noise)
    assert -4 <= mel.min() and mel.max() <= 4
    assert 0 < mel.max() < 4  # full-scale noise is loud but inside the range
    assert melspectrogram(noise * 100).max() == 4.0  # beyond 0 dB re 20 dB it clips
    assert np.all(melspectrogram(np.zeros(16000, dtype=np.int16)) == -4.0)


def test_rejects_stereo_and_bad_dtype():
    with pytest.raises(ValueError, match="mono"):
        melspectrogram(np.zeros((100, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="int16 or float"):
        melspectrogram(np.zeros(100, dtype=np.int32))


def test_window_starts_follow_wav2lip_formula():
    starts = window_starts(200, fps=25)
    assert starts.tolist() == [int(80 * i / 25) for i in range(200)]
    assert starts[:6].tolist() == [0, 3, 6, 9, 12, 16]


def test_one_second_gives_25_windows_cut_at_the_formula():
    mel = melspectrogram(speechlike(1.0))  # 81 columns
    windows = mel_windows(mel, 25)
    assert windows.shape == (25, 1, 80, 16) and windows.dtype == np.float32
    for i in range(25):
        start = min(int(80 * i / 25), mel.shape[1] - 16)  # the tail is clamped
        np.testing.assert_array_equal(windows[i, 0], mel[:, start : start + 16])
    assert -4 <= windows.min() and windows.max() <= 4


def test_window_count_equals_frames_and_tail_is_clamped():
    columns = np.tile(np.arange(50, dtype=np.float32), (80, 1))  # each value is its column
    windows = mel_windows(columns, 30)
    assert windows.shape == (30, 1, 80, 16)
    firsts = windows[:, 0, 0, 0].astype(int).tolist()
    assert firsts == [min(int(80 * i / 25), 50 - 16) for i in range(30)]
    np.testing.assert_array_equal(windows[-1, 0, 0], np.arange(34, 50))
    assert mel_windows(columns, 0).shape == (0, 1, 80, 16)


def test_short_mel_repeats_its_last_column():
    short = np.tile(np.arange(5, dtype=np.float32), (80, 1))
    windows = mel_windows(short, 3)
    assert windows.shape == (3, 1, 80, 16)
    np.testing.assert_array_equal(windows[0, 0, 0], [0, 1, 2, 3, 4] + [4] * 11)


def test_mel_windows_rejects_wrong_shape():
    with pytest.raises(ValueError, match="80"):
        mel_windows(np.zeros((40, 100), dtype=np.float32), 4)
