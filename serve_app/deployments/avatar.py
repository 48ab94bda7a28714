"""The Avatar deployment: ``TTSAudio -> frame chunks`` for any avatar the server offers.

One class, deployed as "Avatar", so serve_config.yaml's Avatar entry applies whatever is shown:
the sprite styles always, and the prepared Wav2Lip packs in ``avatars_dir`` when
``avatar.kind`` is wav2lip and the model is there (``avatar_deployment`` then binds the
``LipSync`` pool, ``serve_app.deployments.lipsync_pool``, in front of which this one computes
mel windows and pastes mouths back). Every method takes an optional avatar name (None: the
configured default); the names and the cache are ``actors.engines.avatar.catalog``'s, the
per-kind streaming is ``serve_app.deployments.avatar_frames``.

Replica counts, autoscaling, ``ray_actor_options`` and ``user_config`` come from the
``serve_config*.yaml`` files; the defaults here fit a 2-core laptop. ``user_config`` holds the
hot avatar settings (mouth smoothing) and is applied by ``reconfigure`` without restarting
replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator

import numpy as np
from ray import serve
from ray.serve import Application

from actors.core.messages import TTSAudio
from actors.core.pixels import PixFmt, frame_shape
from actors.engines.avatar.base import AvatarInfo, AvatarRenderer
from actors.engines.avatar.catalog import AvatarCatalog
from actors.engines.avatar.wav2lip import weights_missing
from actors.pipeline.frame_chunks import rendered_chunks
from config import AvatarSettings, Settings
from serve_app.deployments.avatar_frames import wav2lip_frames
from serve_app.deployments.lipsync_pool import LipSyncPool

log = logging.getLogger("avatar_chat.deployments")

WAV2LIP_MAX_ONGOING = 16  # streams per replica with the LipSync pool (each keeps chunks in flight)


@serve.deployment(name="Avatar", ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=64)
class AvatarDeployment:
    """``TTSAudio -> frame chunks`` for every avatar, by name, shared by all sessions.

    Avatars are loaded on first use and kept in an LRU cache inside each replica, bounded by
    ``avatar.max_loaded_mib`` (the arrays' bytes), rather than with Serve's model multiplexing
    (``@serve.multiplexed``): what differs between avatars is a few NumPy arrays read from disk
    in well under a second, while the costly model, Wav2Lip, is the same for all of them and
    lives in the LipSync pool, so routing sessions to the replicas holding their avatar would
    buy little. Multiplexing would also carry the avatar as a request option (on every call,
    ``info`` and ``catalog`` included), count models instead of bytes (a photo pack is 1 MB, a
    video pack hundreds), and a batched pool asked through it splits its batches by model id,
    which is exactly the sharing the pool is for. Frames of sessions with different avatars
    share one LipSync batch: the pool gets mel windows and face crops, nothing else.

    An unknown avatar name raises ``ValueError``.
    """

    def __init__(self, settings: dict, lipsync=None) -> None:
        self._settings = Settings.model_validate(settings)
        self._lipsync = lipsync
        self._catalog = AvatarCatalog(self._settings, packs=lipsync is not None)
        self._catalog.get(None)  # the default now: a broken pack fails the deployment at once
        self._load_lock = asyncio.Lock()
        self._thumbnails: dict[str, bytes] = {}
        self._drawing = drawing_tag(self._settings.avatar)
        if self._catalog.default_note:
            log.warning("%s", self._catalog.default_note)

    def reconfigure(self, user_config: dict) -> None:
        """Hot avatar settings (merged over ``args.avatar``): the sprites are drawn again."""
        if not user_config:
            return
        avatar = AvatarSettings.model_validate(
            {**self._settings.avatar.model_dump(), **user_config}
        )
        self._settings = self._settings.model_copy(update={"avatar": avatar})
        self._catalog.reconfigure(self._settings)
        self._catalog.get(None)  # the default drawn again now, not in the next session's turn
        self._thumbnails.clear()
        self._drawing = drawing_tag(avatar)

    async def _renderer(self, avatar: str | None) -> tuple[str, AvatarRenderer]:
        """(canonical name, renderer) of ``avatar``, loading it (one at a time) on a miss."""
        key = self._catalog.resolve(avatar)
        renderer = self._catalog.cached(key)
        if renderer is None:
            async with self._load_lock:
                renderer = self._catalog.cached(key)
                if renderer is None:
                    built = await asyncio.to_thread(self._catalog.build, key)
                    renderer = self._catalog.keep(key, built)
                    log.info("avatar %s loaded; in memory: %s", key, self._catalog.loaded)
        return key, renderer

    async def info(self, avatar: str | None = None) -> AvatarInfo:
        """What a session showing ``avatar`` is told about it (size, fps, kind, note)."""
        key, renderer = await self._renderer(avatar)
        return self._catalog.info(key, renderer)

    async def sprite_recipe(self, avatar: str | None = None) -> dict | None:
        """``SpriteAvatar``'s keyword arguments when ``avatar`` is a sprite, as this replica
        draws it now (``reconfigure`` included), else None. A session draws a sprite's frames
        itself from it: the same frames, without streaming them through the object store."""
        return self._catalog.recipe(self._catalog.resolve(avatar))

    async def catalog(self) -> list[dict]:
        """What may be chosen: name, kind, width, height, thumbnail URL, default."""
        return await asyncio.to_thread(self._catalog.entries)

    async def talking(
        self,
        audio: TTSAudio,
        first_frame: int,
        n_samples: int,
        source: str = "",
        avatar: str | None = None,
        pix_fmt: PixFmt = "rgb24",
    ) -> AsyncIterator[np.ndarray]:
        """Frames of ``audio`` padded to ``n_samples`` (a whole number of frames), streamed in
        chunks as they are made: the first leaves before the sentence is fully rendered.
        ``pix_fmt`` is ``rgb24`` or ``yuv420p`` (``actors.core.pixels``); another raises
        ``ValueError``."""
        frame_shape(pix_fmt, 2, 2)  # rejects an unknown format before any work
        key, renderer = await self._renderer(avatar)
        if renderer.kind == "wav2lip":
            ls = self._settings.lipsync
            frames = wav2lip_frames(
                renderer, self._lipsync, audio, first_frame, n_samples, source=source, name=key,
                chunk_frames=ls.chunk_frames, in_flight=ls.chunks_in_flight, pix_fmt=pix_fmt,
            )  # fmt: skip
        else:
            frames = rendered_chunks(renderer, audio, first_frame, n_samples, pix_fmt=pix_fmt)
        async with contextlib.aclosing(frames):  # leaving early stops the inner stream too
            async for chunk in frames:
                yield chunk

    async def idle(
        self, n_frames: int, first_frame: int = 0, avatar: str | None = None
    ) -> np.ndarray:
        _, renderer = await self._renderer(avatar)
        return await asyncio.to_thread(renderer.idle, n_frames, first_frame=first_frame)

    async def thumbnail(self, avatar: str | None = None) -> bytes:
        """A small JPEG (128 px on its long side) of the avatar's first idle frame."""
        key = self._catalog.resolve(avatar)
        if key not in self._thumbnails:
            self._thumbnails[key] = await asyncio.to_thread(self._catalog.thumbnail, key)
        return self._thumbnails[key]

    async def drawing(self) -> str:
        """A tag of the settings the avatars are drawn with: it changes when ``reconfigure``
        changes them, and replicas with the same settings give the same tag, so what is kept
        of the avatars elsewhere (the Ingress's idle clips) can tell when it is stale."""
        return self._drawing

    def loaded(self) -> dict[str, int]:
        """The avatars this replica holds, least recently used first, and their bytes."""
        return self._catalog.loaded

    async def ready(self) -> bool:
        return True


def drawing_tag(avatar: AvatarSettings) -> str:
    """Short digest of the avatar settings (the same on every replica that has them)."""
    text = json.dumps(avatar.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def avatar_deployment(settings: Settings) -> Application:
    """The bound Avatar stage, with the LipSync pool when ``avatar.kind`` is wav2lip and the
    model is there (packs are offered then), else sprites only; the default avatar's
    ``info().note`` says why a configured pack is not shown."""
    data = settings.model_dump(mode="json", exclude={"llm": {"api_key"}})
    if settings.avatar.kind == "wav2lip":
        reason = weights_missing(settings)
        if reason is None:
            avatar = AvatarDeployment.options(max_ongoing_requests=WAV2LIP_MAX_ONGOING)
            return avatar.bind(data, LipSyncPool.bind(data))
        log.warning("%s", reason)
    return AvatarDeployment.bind(data)
