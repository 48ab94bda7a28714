"""Silence-aware lip-sync: which frames of a sentence need Wav2Lip, and how much of each.

``SilenceSkip.weights(pcm, rate, n_frames)`` gives every video frame a weight ``alpha`` in
[0, 1]: the share of the Wav2Lip frame in what is shown, ``alpha * inferred + (1 - alpha) *
original``, where ``inferred`` is the pack frame with the model's mouth pasted in and
``original`` the pack frame itself (closed mouth). ``alpha == 1`` is a speech frame, made
exactly as without this module; ``alpha == 0`` is a skipped frame, the pack's frame, never
sent to the model; anything between is a blend-edge frame, inferred and then blended.

Silence, per frame. Wav2Lip draws frame ``i`` from the 16 mel columns starting at column
``int(80 * i / fps)`` (``features.mel_windows``): about 0.24 s of audio from 25 ms before the
frame's start to 0.21 s after it. The level of a column is the RMS, in dB relative to full
scale (20 log10 RMS with PCM full scale 1.0), of the 50 ms of PCM that column's STFT frame
covers; a frame is *quiet* when the loudest column of its window is below ``threshold_db``.
The window is what keeps pauses inside words (stop closures, quiet consonants) from ever
counting: a frame is quiet only after a quarter of a second below the threshold. It already
looks 0.21 s ahead, so the mouth moves before a word starts, but only 25 ms back; the
``hangover`` adds the look-back: a frame is *silent* only when it and the ``hangover_frames``
frames before it are quiet (a fading word end keeps the model's mouth a frame longer).

Blending, per run of silent frames. A silent frame ``d`` frames away from the nearest speech
frame gets ``alpha = max(0, 1 - d / (blend_frames + 1))``: with 3, the three frames after
speech are 0.75, 0.5, 0.25 of the inferred frame, and the three before speech 0.25, 0.5, 0.75;
only frames further inside the run are skipped, so a pause must last ``2 * blend_frames + 1``
silent frames before it saves anything, and the mouth fades rather than snaps on both sides.
The blend-edge frames are real inference on their (silent) audio: the model's own closing
mouth fades into the pack's. Sentence edges: a sentence is rendered on its own, without the
frames of its neighbours, and a TTS sentence usually starts speaking on its first frame, so
with ``ramp_at_edges`` (the default) each edge of a sentence that has speech counts as speech
too: its leading and trailing silence fade from and back to inferred frames, and a sentence
boundary is never a jump from a pack frame to a talking one. A sentence without any speech
(a pause, a TTS stand-in for nothing to say) is all pack frames and costs no inference.

Everything is a pure function of the samples: the same audio gives the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actors.engines.avatar.features import HOP, MEL_STEP, SAMPLE_RATE, WIN, window_starts

__all__ = ["SilenceSkip", "blend_frames", "column_levels_db", "silence_from_settings"]

_EPS = 1e-20  # energy floor: digital silence is -200 dB rather than -inf


def column_levels_db(pcm: np.ndarray, sample_rate: int, n_columns: int) -> np.ndarray:
    """dBFS of the PCM under each of ``n_columns`` mel columns (50 ms around ``c / 80`` s).

    ``pcm`` is mono int16 or float in [-1, 1], at any rate: spans are mapped to its own samples,
    so nothing is resampled. Samples outside the audio count as silence.
    """
    x = np.asarray(pcm)
    if x.ndim != 1:
        raise ValueError(f"expected mono PCM of shape [n], got {x.shape}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    scale = 32768.0 if x.dtype == np.int16 else 1.0
    energy = np.concatenate([[0.0], np.cumsum(np.square(x.astype(np.float64) / scale))])
    per_column = sample_rate * HOP / SAMPLE_RATE  # native samples per mel column
    half = sample_rate * WIN / SAMPLE_RATE / 2
    centres = np.arange(n_columns, dtype=np.float64) * per_column
    lo = np.clip(np.rint(centres - half).astype(np.int64), 0, len(x))
    hi = np.clip(np.rint(centres + half).astype(np.int64), 0, len(x))
    width = max(1.0, 2 * half)  # the STFT frame's length, also where it hangs off the audio
    mean_square = (energy[hi] - energy[lo]) / width
    return 10.0 * np.log10(np.maximum(mean_square, _EPS))


@dataclass(frozen=True)
class SilenceSkip:
    """Which frames of a sentence Wav2Lip must draw: see the module docstring.

    ``threshold_db``: a frame's window is silent below this level (dBFS). ``blend_frames``:
    frames over which inferred and pack frames are blended next to speech (0: a hard cut).
    ``hangover_frames``: quiet frames after speech still counted as speech. ``ramp_at_edges``:
    the first and last frames of a sentence with speech count as next to speech.
    """

    threshold_db: float = -45.0
    blend_frames: int = 3
    hangover_frames: int = 1
    ramp_at_edges: bool = True

    def __post_init__(self) -> None:
        if not -200.0 <= float(self.threshold_db) <= 0.0:
            raise ValueError(f"threshold_db must be in [-200, 0], got {self.threshold_db!r}")
        for name in ("blend_frames", "hangover_frames"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")

    def window_levels_db(
        self, pcm: np.ndarray, sample_rate: int, n_frames: int, fps: int = 25
    ) -> np.ndarray:
        """``[n_frames]``: the loudest column (dBFS) of each frame's mel window."""
        n16 = len(pcm) * SAMPLE_RATE // sample_rate  # the 16 kHz length features.py sees
        n_columns = 1 + n16 // HOP  # melspectrogram's column count
        levels = column_levels_db(pcm, sample_rate, n_columns)
        if n_columns < MEL_STEP:  # mel_windows repeats the last column: every window is all
            return np.full(n_frames, levels.max(), dtype=np.float64)
        starts = np.minimum(window_starts(n_frames, fps), n_columns - MEL_STEP)
        loudest = np.lib.stride_tricks.sliding_window_view(levels, MEL_STEP).max(axis=1)
        return loudest[starts]

    def silent(self, pcm: np.ndarray, sample_rate: int, n_frames: int, fps: int = 25):
        """``[n_frames]`` bool: frames whose window, and the hangover's windows, are quiet."""
        quiet = self.window_levels_db(pcm, sample_rate, n_frames, fps) < self.threshold_db
        silent = quiet.copy()
        for lag in range(1, self.hangover_frames + 1):  # frames before the start count as quiet
            silent[lag:] &= quiet[:-lag]
        return silent

    def weights(
        self, pcm: np.ndarray, sample_rate: int, n_frames: int, fps: int = 25
    ) -> np.ndarray:
        """``[n_frames]`` float32 in [0, 1]: 1 infer, 0 skip (pack frame), between: blend."""
        silent = self.silent(pcm, sample_rate, n_frames, fps)
        return ramp_weights(silent, self.blend_frames, ramp_at_edges=self.ramp_at_edges)


def ramp_weights(silent: np.ndarray, blend_frames: int, *, ramp_at_edges: bool) -> np.ndarray:
    """Weights from a silent mask: 1 on speech, ramping to 0 over ``blend_frames`` inside each
    silent run (see the module). No speech at all: all 0, whatever ``ramp_at_edges``."""
    silent = np.asarray(silent, dtype=bool)
    n = len(silent)
    speech = np.flatnonzero(~silent)
    if len(speech) == 0:
        return np.zeros(n, np.float32)
    if ramp_at_edges:
        speech = np.concatenate([[-1], speech, [n]])
    frames = np.arange(n)
    after = np.searchsorted(speech, frames)  # first speech index >= frame
    nearest_after = speech[np.minimum(after, len(speech) - 1)]
    nearest_before = speech[np.maximum(after - 1, 0)]
    big = n + blend_frames + 2
    d_after = np.where(nearest_after >= frames, nearest_after - frames, big)
    d_before = np.where(nearest_before <= frames, frames - nearest_before, big)
    distance = np.minimum(d_after, d_before)
    alpha = np.clip(1.0 - distance / (blend_frames + 1), 0.0, 1.0)
    return np.where(silent, alpha, 1.0).astype(np.float32)


def blend_frames(inferred: np.ndarray, original: np.ndarray, alpha) -> np.ndarray:
    """``rint(alpha * inferred + (1 - alpha) * original)`` uint8: ``alpha`` one number, or one
    per frame (the first axis)."""
    a = np.asarray(alpha, np.float32)
    if a.ndim:
        a = a.reshape(-1, *([1] * (inferred.ndim - 1)))
    base = original.astype(np.float32)
    mixed = base + a * (inferred.astype(np.float32) - base)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def silence_from_settings(lipsync) -> SilenceSkip | None:
    """The ``lipsync`` settings' ``SilenceSkip`` (None: ``silence_db`` is None, skipping off)."""
    if lipsync.silence_db is None:
        return None
    return SilenceSkip(
        threshold_db=float(lipsync.silence_db), blend_frames=int(lipsync.silence_blend_frames)
    )
