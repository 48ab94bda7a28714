"""The interface every avatar renderer offers (sprite now, Wav2Lip later)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class AvatarRenderer(Protocol):
    """``TTSAudio -> VideoFrames``: frames for a stretch of speech, or idle frames.

    Frames are RGB uint8 ``[N, H, W, 3]``. ``first_frame`` is the absolute frame
    index of the first returned frame within the session's timeline, so blinks and
    idle motion continue smoothly across calls; renderers keep no hidden clock.
    """

    fps: int
    width: int
    height: int

    def talking(self, pcm: np.ndarray, sample_rate: int, *, first_frame: int = 0) -> np.ndarray:
        """One frame per ``sample_rate / fps`` samples, rounded up: ``ceil(len(pcm) / spf)``."""
        ...

    def idle(self, n_frames: int, *, first_frame: int = 0) -> np.ndarray:
        """``n_frames`` frames of the avatar at rest (breathing, blinking)."""
        ...
