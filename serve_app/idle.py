"""The idle clip: the avatar at rest, as a seamless fragmented-MP4 loop for ``/idle.mp4``."""

from __future__ import annotations

import asyncio

import numpy as np

from actors.core.messages import samples_per_frame
from actors.engines.avatar.base import AvatarInfo
from actors.pipeline.builders import make_encoder
from config import Settings

IDLE_HALF_FRAMES = 60  # 2.4 s forward, then back: about 4.7 s per loop


async def render_idle_clip(
    avatar, info: AvatarInfo, settings: Settings, name: str | None = None
) -> bytes:
    """Frames 0..N-1 then N-2..1 (a palindrome), so a looping player never jumps.

    ``avatar`` is the Avatar deployment's handle, ``name`` the avatar (None: the server's)."""
    frames = await avatar.idle.remote(IDLE_HALF_FRAMES, 0, name)
    loop = np.concatenate([frames, frames[-2:0:-1]])
    return await asyncio.to_thread(_encode, loop, info, settings)


def _encode(frames: np.ndarray, info: AvatarInfo, settings: Settings) -> bytes:
    rate = settings.tts.sample_rate
    enc = make_encoder(settings, width=info.width, height=info.height, fps=info.fps)
    silence = np.zeros(len(frames) * samples_per_frame(rate, info.fps), np.int16)
    chunks = [enc.start(), *enc.encode(frames, silence), *enc.close()]
    return b"".join(c.data for c in chunks)
