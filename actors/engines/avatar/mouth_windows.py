"""``MouthWindows``: Wav2Lip sessions that compute only the mouth window of their output.

Paste-back uses the model's output only where the avatar's feathered mask is above zero
(``pasteback.mouth_window``): on a typical face the top quarter of the crop and a strip along
one side are never seen. ``models.output_window.crop_to_window`` rewrites the graph to compute
just the window; this keeps one ONNX Runtime session per window, built on first use and
checked once against the whole graph on random inputs (a mismatch keeps the whole graph for
that window). Windows are widened to even rows and columns so near-identical packs share a
session; at most ``max_variants`` are built, later windows run on the whole graph.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from actors.engines.avatar.face_cache import PARTS_TOLERANCE, random_feeds, release_freed_memory

__all__ = ["MouthWindows", "checked_window"]

log = logging.getLogger("avatar_chat.wav2lip")
Window = tuple[int, int, int, int]


def checked_window(window, size: tuple[int, int] = (96, 96)) -> Window:
    """``window`` as ``(y0, y1, x0, x1)`` ints; ValueError unless it is a non-empty part of
    an output of ``size`` (rows, columns)."""
    h, w = size
    try:
        y0, y1, x0, x1 = (int(v) for v in window)
    except (TypeError, ValueError):
        raise ValueError(f"window must be (y0, y1, x0, x1), got {window!r}") from None
    if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
        raise ValueError(f"window {window!r} is empty or outside the {h}x{w} crop")
    return y0, y1, x0, x1


class MouthWindows:
    """``window -> session`` for ``graph`` (serialised ONNX) cropped to it; None: the whole."""

    def __init__(
        self,
        graph: bytes,
        *,
        whole,
        output: str,
        size: tuple[int, int],
        make_session: Callable[[bytes], object],
        max_variants: int,
    ) -> None:
        if not isinstance(max_variants, int) or max_variants < 1:
            raise ValueError(f"max_variants must be a positive int, got {max_variants!r}")
        self._graph, self._whole, self._output = graph, whole, output
        self._size, self._make, self.max_variants = size, make_session, max_variants
        self._sessions: dict[tuple[int, int, int, int], object | None] = {}
        self._lock = threading.Lock()

    def snap(self, window) -> tuple[int, int, int, int] | None:
        """``window`` widened to even bounds inside the output; None if it is the whole."""
        h, w = self._size
        y0, y1, x0, x1 = checked_window(window, self._size)
        snapped = (y0 - y0 % 2, min(h, y1 + y1 % 2), x0 - x0 % 2, min(w, x1 + x1 % 2))
        return None if snapped == (0, h, 0, w) else snapped

    def session(self, window):
        """The session computing ``window`` (None: the whole graph's)."""
        key = None if window is None else self.snap(window)
        if key is None:
            return self._whole
        with self._lock:  # built once, by the first caller; the others wait for it
            if key not in self._sessions:
                if len(self._sessions) >= self.max_variants:
                    return self._whole
                self._sessions[key] = self._build(key)
                release_freed_memory()
            return self._sessions[key] or self._whole

    def _build(self, key):
        import onnx

        from models.output_window import crop_to_window

        cropped = crop_to_window(onnx.load_from_string(self._graph), output=self._output,
                                 window=key)  # fmt: skip
        session = self._make(cropped.SerializeToString())
        feeds = random_feeds(self._whole)
        y0, y1, x0, x1 = key
        (whole,) = self._whole.run([self._output], feeds)
        (part,) = session.run([self._output], feeds)
        diff = float(np.abs(whole[..., y0:y1, x0:x1] - part[..., y0:y1, x0:x1]).max())
        if diff > PARTS_TOLERANCE:
            log.warning("Wav2Lip window %s differs from the whole by %.2g: not used", key, diff)
            return None
        log.info("Wav2Lip: a session for the mouth window %s", key)
        return session

    @property
    def windows(self) -> list[tuple[int, int, int, int]]:
        """The windows built so far and used (a failed check is left out)."""
        with self._lock:
            return [k for k, s in self._sessions.items() if s is not None]
