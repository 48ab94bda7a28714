"""A renderer's frames for one sentence, streamed in the turn's fragment sizes.

What the Avatar deployment streams for a sprite, and what a session draws for itself when its
avatar is a sprite (``actors.session.sprites``): the same chunks either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from actors.core.messages import TTSAudio, pad_to_frames
from actors.core.pixels import PixFmt
from actors.engines.avatar.base import AvatarRenderer
from actors.media.fragments import fragment_sizes

__all__ = ["rendered_chunks"]


async def rendered_chunks(
    renderer: AvatarRenderer,
    audio: TTSAudio,
    first_frame: int,
    n_samples: int,
    *,
    pix_fmt: PixFmt = "rgb24",
) -> AsyncIterator[np.ndarray]:
    """``renderer``'s frames of ``audio`` padded to ``n_samples``, drawn chunk by chunk in a
    worker thread, in the turn's fragment sizes (the first sentence's first chunk is small)."""
    r = renderer
    pcm = pad_to_frames(audio.pcm, audio.sample_rate, r.fps, min_samples=n_samples)
    n_frames = len(pcm) * r.fps // audio.sample_rate
    sizes = fragment_sizes(n_frames, first_sentence=first_frame == 0)
    chunks = r.talking_chunks(
        pcm, audio.sample_rate, sizes, first_frame=first_frame, pix_fmt=pix_fmt
    )
    while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
        yield chunk
