"""Speech loudness per video frame, mapped to a mouth opening (``PCM -> opening 0..1``)."""

from __future__ import annotations

import math

import numpy as np

from actors.core.messages import samples_per_frame


def frame_levels_db(pcm: np.ndarray, spf: int) -> np.ndarray:
    """RMS level in dBFS of each video frame; frame ``i`` covers samples ``[i*spf, (i+1)*spf)``.

    The last, partial frame is measured over the samples it has, not over padding.
    Integer PCM is read as PCM16 (full scale 32768); float PCM as full scale 1.0.
    """
    x = np.asarray(pcm).reshape(-1)
    scale = 32768.0 if np.issubdtype(x.dtype, np.integer) else 1.0
    n_frames = math.ceil(len(x) / spf)
    if n_frames == 0:
        return np.zeros(0, dtype=np.float64)
    padded = np.zeros(n_frames * spf, dtype=np.float64)
    padded[: len(x)] = x / scale
    energy = np.square(padded).reshape(n_frames, spf).sum(axis=1)
    counts = np.full(n_frames, float(spf))
    counts[-1] = len(x) - (n_frames - 1) * spf
    return 10.0 * np.log10(np.maximum(energy / counts, 1e-12))


def _soft_ramp(u: np.ndarray, knee: float) -> np.ndarray:
    """``max(u, 0)`` with its corner rounded over ``[-knee/2, knee/2]`` (continuous slope)."""
    half = knee / 2.0
    ramp = np.where(u >= half, u, np.square(u + half) / (2.0 * knee))
    return np.where(u <= -half, 0.0, ramp)


class MouthEnvelope:
    """``PCM -> mouth opening per video frame``: gated, soft-kneed, smoothed loudness in 0..1.

    Levels below ``gate_db`` (breath, codec noise) keep the mouth shut; the opening
    rises over a ``knee_db`` wide rounded corner so quiet consonants do not make it
    snap, reaches 1 at ``full_db`` and saturates softly there. Smoothing is
    exponential per frame; the mouth opens faster (half the smoothing) than it
    closes, as a real mouth does. Every call starts from a closed mouth.
    """

    def __init__(
        self,
        *,
        smoothing: float = 0.5,
        gate_db: float = -48.0,
        full_db: float = -16.0,
        knee_db: float = 8.0,
    ) -> None:
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if not full_db > gate_db:
            raise ValueError(f"full_db ({full_db}) must be above gate_db ({gate_db})")
        if not 0.0 < knee_db < full_db - gate_db:
            raise ValueError(f"knee_db must be in (0, {full_db - gate_db}), got {knee_db}")
        self.smoothing = smoothing
        self.gate_db = gate_db
        self.full_db = full_db
        self.knee_db = knee_db

    def openings_from_db(self, levels_db: np.ndarray) -> np.ndarray:
        """Map per-frame dBFS levels to unsmoothed openings in 0..1."""
        span = self.full_db - self.gate_db
        x = _soft_ramp(np.asarray(levels_db, dtype=np.float64) - self.gate_db, self.knee_db) / span
        # Mirror the knee at the top so loud frames saturate without a hard clip.
        x = 1.0 - _soft_ramp(1.0 - x, self.knee_db / span)
        return np.clip(x, 0.0, 1.0)

    def smooth(self, openings: np.ndarray) -> np.ndarray:
        """Exponential smoothing per frame, attack (opening) faster than release."""
        keep_release = self.smoothing
        keep_attack = self.smoothing / 2.0
        out = np.empty(len(openings), dtype=np.float64)
        y = 0.0
        for i, x in enumerate(openings.tolist()):
            keep = keep_attack if x > y else keep_release
            y = keep * y + (1.0 - keep) * x
            out[i] = y
        return out

    def __call__(self, pcm: np.ndarray, sample_rate: int, fps: int) -> np.ndarray:
        """Smoothed opening in 0..1 for each of the ``ceil(len(pcm) / spf)`` frames."""
        levels = frame_levels_db(pcm, samples_per_frame(sample_rate, fps))
        return self.smooth(self.openings_from_db(levels))
