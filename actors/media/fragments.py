"""How a sentence's frames are cut into fragments (shared by the turn and the Avatar stage)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np

# The first sentence of a turn leaves in small fragments so the first frames reach the
# client after encoding a handful of frames, not the whole sentence. Later media goes in
# one-second fragments: each starts with a keyframe (a few percent more encoding than one
# per sentence), but a sentence's first second leaves without waiting for its last, which
# under load is what keeps the next sentence from arriving late.
FIRST_SENTENCE_CHUNKS = (10, 15)
FRAGMENT_FRAMES = 25


def fragment_sizes(n_frames: int, *, first_sentence: bool) -> list[int]:
    """Frames per fragment of a sentence: ``FRAGMENT_FRAMES`` each, and the first sentence
    of a turn starts with the smaller ``FIRST_SENTENCE_CHUNKS``."""
    head = FIRST_SENTENCE_CHUNKS if first_sentence else ()
    sizes, left = [], n_frames
    for size in (*head, *([FRAGMENT_FRAMES] * (n_frames // FRAGMENT_FRAMES + 1))):
        if left <= 0:
            break
        sizes.append(min(size, left))
        left -= size
    return sizes


async def split_frames(frames: np.ndarray, sizes: list[int]) -> AsyncIterator[np.ndarray]:
    """A sentence's frames as a stream of the given fragment sizes."""
    at = 0
    for size in sizes:
        yield frames[at : at + size]
        at += size
