"""The sprite Avatar deployment: ``TTSAudio -> frame chunks`` from the drawn face.

Replica counts, autoscaling, ``ray_actor_options`` and ``user_config`` come from
``serve_config.yaml``; the defaults here fit a 2-core laptop. ``user_config``
holds the hot-tunable settings (voices, mouth smoothing) and is applied by
``reconfigure`` without restarting replicas.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import numpy as np
from ray import serve

from actors.core.messages import TTSAudio, pad_to_frames
from actors.engines.avatar.base import AvatarInfo
from actors.engines.avatar.renderer_choice import make_sprite
from actors.media.fragments import fragment_sizes
from config import Settings

log = logging.getLogger("avatar_chat.deployments")


@serve.deployment(name="Avatar", ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=64)
class AvatarDeployment:
    """``TTSAudio -> frame chunks``: the sprite avatar, shared by all sessions (Wav2Lip has
    its own deployments in serve_app/wav2lip_avatar.py and serve_app/lipsync.py)."""

    def __init__(self, settings: dict) -> None:
        self._settings = Settings.model_validate(settings)
        self._renderer = make_sprite(self._settings)

    def reconfigure(self, user_config: dict) -> None:
        if not user_config:
            return
        avatar = self._settings.avatar.model_copy(update=user_config)
        self._settings = self._settings.model_copy(update={"avatar": avatar})
        self._renderer = make_sprite(self._settings)

    def info(self) -> AvatarInfo:
        return self._renderer.info()

    async def talking(
        self, audio: TTSAudio, first_frame: int, n_samples: int, source: str = ""
    ) -> AsyncIterator[np.ndarray]:
        """Frames for ``audio`` padded to ``n_samples`` (a whole number of frames), streamed
        in the turn's fragment sizes: the first chunk leaves after rendering a few frames."""
        r = self._renderer
        pcm = pad_to_frames(audio.pcm, audio.sample_rate, r.fps, min_samples=n_samples)
        n_frames = len(pcm) * r.fps // audio.sample_rate
        sizes = fragment_sizes(n_frames, first_sentence=first_frame == 0)
        chunks = r.talking_chunks(pcm, audio.sample_rate, sizes, first_frame=first_frame)
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            yield chunk

    async def idle(self, n_frames: int, first_frame: int = 0) -> np.ndarray:
        return await asyncio.to_thread(self._renderer.idle, n_frames, first_frame=first_frame)

    async def ready(self) -> bool:
        return True
