"""The TTS deployment: ``Sentence text -> TTSAudio``, pooled replicas of the configured engine.

Replica counts and autoscaling come from ``serve_config.yaml``; ``user_config`` holds the
hot-tunable voice settings, applied by ``reconfigure`` without restarting replicas.
"""

from __future__ import annotations

import logging

from ray import serve

from actors.core.messages import Sentence, TTSAudio
from actors.engines.tts import tts_engines
from config import Settings, tts_voices

log = logging.getLogger("avatar_chat.deployments")


@serve.deployment(name="TTS", ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=64)
class TTSDeployment:
    """``Sentence -> TTSAudio``: the engine ``settings.tts`` names (edge-tts with the espeak-ng
    fallback by default), one per replica."""

    def __init__(self, settings: dict) -> None:
        self._settings = Settings.model_validate(settings)
        self._tts_settings = self._settings.tts
        self._tts = tts_engines.create(self._tts_settings)

    def reconfigure(self, user_config: dict) -> None:
        """Apply hot ``tts`` settings (e.g. ``primary: {voice: ...}``) to this replica."""
        tuned = self._settings.with_overrides({"tts": user_config or {}})
        self._tts = tts_engines.create(tuned.tts)
        self._tts_settings = tuned.tts
        log.info("TTS reconfigured: %s", sorted((user_config or {}).keys()))

    def voices(self) -> dict[str, list[str]]:
        """Language code -> the names of this engine's voices (its voice tables): what a
        session may choose as its voice (``Sentence.voice``)."""
        return tts_voices(self._tts_settings)

    async def synthesize(self, sentence: Sentence) -> TTSAudio:
        return await self._tts.synthesize(sentence)

    async def ready(self) -> bool:
        return True
