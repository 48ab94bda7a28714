"""Wav2Lip audio features: ``PCM -> mel [80, T] -> windows [n_frames, 1, 80, 16]``.

The numbers reproduce Wav2Lip's ``audio.melspectrogram`` (its ``hparams.py``) so that
real Wav2Lip weights see the input they were trained on: 16 kHz, pre-emphasis 0.97,
STFT 800/200/800 with a periodic Hann window, 80 mel bands 55..7600 Hz, dB with a
-100 dB floor and 20 dB reference, symmetric normalisation to [-4, 4].

Padding: Wav2Lip pinned librosa 0.7, whose ``stft`` centres frames with
``pad_mode="reflect"``. librosa >= 0.10 changed that default to ``"constant"``, so we
reflect-pad explicitly rather than follow whatever librosa is installed.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 800
HOP = 200
WIN = 800
N_MELS = 80
FMIN = 55.0
FMAX = 7600.0
PREEMPHASIS = 0.97
MIN_LEVEL_DB = -100.0
REF_LEVEL_DB = 20.0
MAX_ABS = 4.0
MEL_STEP = 16  # mel columns per window, as in Wav2Lip's inference.py
MEL_COLUMNS_PER_S = SAMPLE_RATE // HOP  # 80


# Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above.
_MEL_HZ_STEP = 200.0 / 3.0  # Hz per mel on the linear part
_KNEE_HZ = 1000.0
_KNEE_MEL = _KNEE_HZ / _MEL_HZ_STEP
_LOG_STEP = np.log(6.4) / 27.0  # log-Hz per mel above the knee


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    above = _KNEE_MEL + np.log(np.maximum(hz, _KNEE_HZ) / _KNEE_HZ) / _LOG_STEP
    return np.where(hz >= _KNEE_HZ, above, hz / _MEL_HZ_STEP)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    above = _KNEE_HZ * np.exp(_LOG_STEP * (mel - _KNEE_MEL))
    return np.where(mel >= _KNEE_MEL, above, _MEL_HZ_STEP * mel)


@lru_cache(maxsize=1)
def _mel_basis() -> np.ndarray:
    """``[80, 401]`` triangular filters on Slaney's mel scale with Slaney (area) normalisation.

    The filterbank of Wav2Lip's ``librosa.filters.mel(16000, 800, n_mels=80, fmin=55,
    fmax=7600)``, computed here so serving needs no librosa (its import and JIT cost
    seconds on a replica's first sentence); a test checks it against librosa.
    """
    fft_hz = np.linspace(0.0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), N_MELS + 2))
    widths = np.diff(edges)
    offsets = edges[:, None] - fft_hz[None, :]  # [82, 401]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]  # each filter's area is constant
    return np.ascontiguousarray(weights, dtype=np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    # Periodic Hann (scipy.signal.get_window("hann", 800, fftbins=True)), as librosa uses.
    n = np.arange(WIN)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / WIN)).astype(np.float32)


def to_float_16k(pcm: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono PCM (int16, or float in [-1, 1]) at any rate -> float32 in [-1, 1] at 16 kHz."""
    pcm = np.asarray(pcm)
    if pcm.ndim != 1:
        raise ValueError(f"expected mono PCM of shape [n], got {pcm.shape}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if pcm.dtype == np.int16:
        audio = pcm.astype(np.float32) / 32768.0
    elif np.issubdtype(pcm.dtype, np.floating):
        audio = pcm.astype(np.float32, copy=False)
    else:
        raise ValueError(f"PCM must be int16 or float, got {pcm.dtype}")
    if sample_rate != SAMPLE_RATE and len(audio):
        import soxr

        audio = soxr.resample(audio, sample_rate, SAMPLE_RATE).astype(np.float32, copy=False)
    return audio


def melspectrogram(pcm: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Normalised Wav2Lip mel spectrogram ``[80, 1 + n // 200]`` float32 in [-4, 4].

    ``n`` is the sample count after resampling to 16 kHz.
    """
    audio = to_float_16k(pcm, sample_rate).astype(np.float64)
    # Pre-emphasis y[n] = x[n] - 0.97 x[n-1] with x[-1] = 0 (scipy lfilter semantics).
    emphasised = audio.copy()
    emphasised[1:] -= PREEMPHASIS * audio[:-1]
    half = N_FFT // 2
    # Empty input cannot be reflected: it becomes one frame of silence.
    mode = "reflect" if len(emphasised) else "constant"
    padded = np.pad(emphasised.astype(np.float32), half, mode=mode)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    magnitude = np.abs(np.fft.rfft(frames * _window(), axis=1))  # [T, 401]
    mel = _mel_basis() @ magnitude.T.astype(np.float32)  # [80, T]
    floor = 10.0 ** (MIN_LEVEL_DB / 20.0)
    db = 20.0 * np.log10(np.maximum(floor, mel)) - REF_LEVEL_DB
    normalised = (2 * MAX_ABS) * ((db - MIN_LEVEL_DB) / -MIN_LEVEL_DB) - MAX_ABS
    return np.clip(normalised, -MAX_ABS, MAX_ABS).astype(np.float32)


def window_starts(n_frames: int, fps: int = 25) -> np.ndarray:
    """First mel column of each video frame's window: ``int(80 * i / fps)`` (exact integers)."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return (MEL_COLUMNS_PER_S * np.arange(n_frames, dtype=np.int64)) // fps


def mel_windows(mel: np.ndarray, n_frames: int, fps: int = 25) -> np.ndarray:
    """Mel ``[80, T]`` -> ``[n_frames, 1, 80, 16]`` float32, one window per video frame.

    Frame ``i`` gets the 16 columns from ``int(80 * i / fps)``. Windows that would run
    past the end are clamped to start at ``T - 16`` (what Wav2Lip's inference.py does for
    its last chunk); a mel shorter than 16 columns is first padded by repeating its last
    column (or with silence, -4, if it has none).
    """
    mel = np.asarray(mel, dtype=np.float32)
    if mel.ndim != 2 or mel.shape[0] != N_MELS:
        raise ValueError(f"mel must be [{N_MELS}, T], got {mel.shape}")
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    if mel.shape[1] == 0:
        mel = np.full((N_MELS, MEL_STEP), -MAX_ABS, dtype=np.float32)
    elif mel.shape[1] < MEL_STEP:
        mel = np.pad(mel, ((0, 0), (0, MEL_STEP - mel.shape[1])), mode="edge")
    starts = np.minimum(window_starts(n_frames, fps), mel.shape[1] - MEL_STEP)
    columns = starts[:, None] + np.arange(MEL_STEP)[None, :]  # [n_frames, 16]
    windows = mel[:, columns]  # [80, n_frames, 16]
    return np.ascontiguousarray(windows.transpose(1, 0, 2)[:, None])
