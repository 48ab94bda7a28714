"""Generated test speech: espeak-ng utterances between silences, with known boundaries.

The truth boundaries come from the synthesized audio itself: espeak-ng pads its output
with silence, so each utterance is trimmed to the frames whose energy is within
``TRIM_DB`` of its loudest frame before it is placed on the timeline.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from actors.engines.tts.espeak import EspeakTTS

TRIM_DB = 40.0  # frames quieter than the loudest frame by more than this are silence
FRAME_S = 0.005  # energy frame for trimming: 5 ms resolution of the truth


@functools.lru_cache(maxsize=64)
def _spoken(text: str, sample_rate: int, voice: str, rate_wpm: int) -> np.ndarray:
    tts = EspeakTTS(voice=voice, rate_wpm=rate_wpm, sample_rate=sample_rate)
    pcm = tts.synthesize_blocking(text).pcm
    return trim_silence(pcm, sample_rate)


def trim_silence(pcm: np.ndarray, sample_rate: int, *, trim_db: float = TRIM_DB) -> np.ndarray:
    """``pcm`` without leading and trailing frames quieter than the peak by ``trim_db``."""
    frame = max(1, int(sample_rate * FRAME_S))
    n = len(pcm) // frame
    if n == 0:
        return pcm[:0]
    frames = pcm[: n * frame].astype(np.float64).reshape(n, frame)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    loud = np.flatnonzero(rms > rms.max() * 10 ** (-trim_db / 20))
    if len(loud) == 0:
        return pcm[:0]
    return pcm[loud[0] * frame : (loud[-1] + 1) * frame]


def speech_with_silence(
    texts: Sequence[str],
    gaps_s: float | Sequence[float],
    sample_rate: int = 16000,
    noise_snr_db: float | None = None,
    seed: int = 0,
    *,
    noise: str = "white",
    voice: str = "en-us",
    rate_wpm: int = 165,
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """PCM16 of ``texts`` spoken one after another, and each one's ``(start_s, end_s)``.

    ``gaps_s`` is the silence before the first text, between texts and after the last
    (``len(texts) + 1`` values, or one value for all). With ``noise_snr_db`` set, white
    or pink noise is added at that SNR relative to the mean power of the speech.
    """
    gaps = [float(gaps_s)] * (len(texts) + 1) if np.isscalar(gaps_s) else list(gaps_s)
    if len(gaps) != len(texts) + 1:
        raise ValueError(f"need {len(texts) + 1} gaps for {len(texts)} texts, got {len(gaps)}")
    if noise not in ("white", "pink"):
        raise ValueError(f"noise must be 'white' or 'pink', got {noise!r}")
    pieces: list[np.ndarray] = []
    truth: list[tuple[float, float]] = []
    at = 0
    for text, gap in zip(texts, gaps, strict=False):
        pieces.append(np.zeros(round(gap * sample_rate), np.int16))
        at += len(pieces[-1])
        spoken = _spoken(text, sample_rate, voice, rate_wpm)
        pieces.append(spoken)
        truth.append((at / sample_rate, (at + len(spoken)) / sample_rate))
        at += len(spoken)
    pieces.append(np.zeros(round(gaps[-1] * sample_rate), np.int16))
    audio = np.concatenate(pieces).astype(np.float64)
    if noise_snr_db is not None:
        speech = np.concatenate([audio[round(s * sample_rate) : round(e * sample_rate)]
                                 for s, e in truth])  # fmt: skip
        speech_power = float(np.mean(speech**2))
        shaped = _noise(len(audio), noise, np.random.default_rng(seed))
        audio += shaped * np.sqrt(speech_power / 10 ** (noise_snr_db / 10))
    pcm = np.clip(np.round(audio), -32768, 32767).astype(np.int16)
    return pcm, truth


def _noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-power white or pink (1/f power) noise."""
    white = rng.standard_normal(n)
    if kind == "pink":
        spectrum = np.fft.rfft(white)
        freqs = np.arange(len(spectrum))
        freqs[0] = 1
        white = np.fft.irfft(spectrum / np.sqrt(freqs), n)
    return white / np.sqrt(np.mean(white**2))
