"""The streaming Wav2Lip Avatar stage, and the choice between it and the sprite.

``Wav2LipAvatarDeployment`` (deployment name "Avatar", so serve_config.yaml's Avatar entry
applies to whichever avatar is configured) computes mel windows, gathers the face crops, sends
each chunk to the ``LipSync`` pool (``serve_app.deployments.lipsync_pool``) with a few chunks
in flight, pastes the mouths back and streams frame chunks out as they are done: the first frames
leave before the sentence is finished.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import replace

import numpy as np
from ray import serve
from ray.serve import Application

from actors.core.messages import TTSAudio, pad_to_frames
from actors.engines.avatar.base import AvatarInfo
from actors.engines.avatar.wav2lip import Wav2LipAvatar, unavailable_reason
from config import AvatarSettings, Settings
from serve_app.deployments.lipsync_pool import LipSyncPool
from serve_app.deployments.sprite_avatar import AvatarDeployment

log = logging.getLogger("avatar_chat.lipsync")


@serve.deployment(name="Avatar", ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=16)
class Wav2LipAvatarDeployment:
    """``TTSAudio -> frame chunks``, streamed: mel, crops and paste-back; inference in LipSync."""

    def __init__(self, settings: dict, lipsync) -> None:
        s = Settings.model_validate(settings)
        self._avatar = Wav2LipAvatar.load(s.avatars_dir, s.avatar.name, fps=s.avatar.fps)
        self._precision = s.lipsync.precision
        self._lipsync = lipsync
        self._chunk = s.lipsync.chunk_frames
        self._ahead = s.lipsync.chunks_in_flight

    def reconfigure(self, user_config: dict) -> None:
        # The Avatar entry of serve_config.yaml is shared with the sprite (mouth_smoothing):
        # validated, but nothing in it changes a Wav2Lip avatar.
        AvatarSettings.model_validate(user_config or {})

    def info(self) -> AvatarInfo:
        return replace(self._avatar.info(), precision=self._precision)

    async def idle(self, n_frames: int, first_frame: int = 0) -> np.ndarray:
        return self._avatar.idle(n_frames, first_frame=first_frame)  # a cheap array slice

    async def talking(
        self, audio: TTSAudio, first_frame: int, n_samples: int, source: str = ""
    ) -> AsyncIterator[np.ndarray]:
        """Frames of ``audio`` padded to ``n_samples``, in chunks of ``chunk_frames``, in order."""
        pcm = pad_to_frames(audio.pcm, audio.sample_rate, self._avatar.fps, min_samples=n_samples)
        mel = await asyncio.to_thread(self._avatar.mel_inputs, pcm, audio.sample_rate)
        pending: deque[asyncio.Task] = deque()
        try:
            for start in range(0, len(mel), self._chunk):
                part = mel[start : start + self._chunk]
                pending.append(
                    asyncio.create_task(self._chunk_frames(part, first_frame + start, source))
                )
                if len(pending) >= self._ahead:
                    yield await pending.popleft()
            while pending:
                yield await pending.popleft()
        finally:  # the consumer left (barge-in): drop the chunks still being made
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _chunk_frames(self, mel: np.ndarray, first: int, source: str) -> np.ndarray:
        crops = self._avatar.face_crops(first, len(mel))  # a cheap array gather
        response = self._lipsync.infer.remote(mel, crops, source)
        try:
            mouths = await response
        except asyncio.CancelledError:  # awaiting a response does not cancel it by itself
            response.cancel()
            raise
        return await asyncio.to_thread(self._avatar.paste, mouths, first)

    async def ready(self) -> bool:
        return True


def avatar_deployment(settings: Settings) -> Application:
    """The bound Avatar stage: Wav2Lip (+ LipSync) when configured and available, else sprite.

    The sprite's ``info()["note"]`` then says why (``make_sprite`` sets it).
    """
    data = settings.model_dump(mode="json", exclude={"llm": {"api_key"}})
    if settings.avatar.kind == "wav2lip":
        reason = unavailable_reason(settings)
        if reason is None:
            return Wav2LipAvatarDeployment.bind(data, LipSyncPool.bind(data))
        log.warning("%s", reason)
    return AvatarDeployment.bind(data)
