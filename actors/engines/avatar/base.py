"""The avatar capability: ``TTSAudio -> VideoFrames``, and what a session is told about it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from actors.core.pixels import PixFmt, frame_shape, rgb_to_yuv420p

__all__ = ["AvatarInfo", "AvatarRenderer", "array_bytes"]


@dataclass(frozen=True, slots=True)
class AvatarInfo:
    """The avatar as a client sees it (the ``avatar`` of the ``session`` event)."""

    kind: str  # "sprite" or "wav2lip"
    width: int
    height: int
    fps: int
    note: str = ""  # why a requested avatar is not the one shown (empty: it is)
    streaming: bool = True  # frames leave in chunks, before a sentence is fully rendered
    name: str | None = None  # the avatar pack's name (Wav2Lip)
    precision: str | None = None  # the lip-sync model's precision (Wav2Lip)

    def to_dict(self) -> dict[str, Any]:
        """The wire form: fields that are None are left out."""
        return {k: v for k, v in asdict(self).items() if v is not None}


class AvatarRenderer(ABC):
    """``TTSAudio -> VideoFrames``: frames for a stretch of speech, or idle frames.

    Frames are RGB uint8 ``[N, height, width, 3]``, or I420 where ``talking_chunks`` is asked
    for ``yuv420p`` (``actors.core.pixels``); a sentence of ``len(pcm)`` samples gets
    ``ceil(len(pcm) / (sample_rate / fps))`` frames. ``first_frame`` is the absolute frame
    index of the first returned frame within the session's timeline, so blinks and idle
    motion continue smoothly across calls: renderers keep no hidden clock.
    """

    kind: str
    fps: int
    width: int
    height: int
    note: str = ""

    @abstractmethod
    def talking(self, pcm: np.ndarray, sample_rate: int, *, first_frame: int = 0) -> np.ndarray:
        """The frames of speech ``pcm`` (PCM16 mono at ``sample_rate``)."""

    @abstractmethod
    def idle(self, n_frames: int, *, first_frame: int = 0) -> np.ndarray:
        """``n_frames`` frames of the avatar at rest (breathing, blinking)."""

    def talking_chunks(
        self,
        pcm: np.ndarray,
        sample_rate: int,
        sizes: list[int],
        *,
        first_frame: int = 0,
        pix_fmt: PixFmt = "rgb24",
    ) -> Iterator[np.ndarray]:
        """``talking`` in chunks of ``sizes`` frames (summing to its frame count), so the first
        can be encoded before the rest exist, in ``pix_fmt``. This default renders everything
        first and converts each chunk."""
        frame_shape(pix_fmt, self.height, self.width)  # rejects an unknown format now
        frames = self.talking(pcm, sample_rate, first_frame=first_frame)
        if sum(sizes) != len(frames) or min(sizes, default=1) < 1:
            raise ValueError(f"chunk sizes {sizes} do not split {len(frames)} frames")
        at = 0
        for size in sizes:
            chunk = frames[at : at + size]
            yield rgb_to_yuv420p(chunk) if pix_fmt == "yuv420p" else chunk
            at += size

    def info(self) -> AvatarInfo:
        return AvatarInfo(self.kind, self.width, self.height, self.fps, self.note)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays this renderer holds (what a server's avatar budget counts).

        This default adds up the arrays among its attributes, in dicts, lists and tuples too.
        """
        return array_bytes(vars(self))


def array_bytes(value: Any) -> int:
    """The ``nbytes`` of every NumPy array in ``value``, looking into dicts, lists and tuples."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list | tuple):
        return 0
    return sum(array_bytes(v) for v in value)
