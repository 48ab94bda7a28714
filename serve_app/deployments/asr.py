"""The ASR deployment: a pool of speech recognition replicas shared by all sessions."""

from __future__ import annotations

import logging
import threading

from ray import serve

from actors.core.messages import Transcript, Utterance
from actors.engines.asr import ASR, asr_engines
from config import Settings

log = logging.getLogger("avatar_chat.asr")


@serve.deployment(name="ASR", ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=4)
class ASRDeployment:
    """``Utterance -> Transcript`` with the engine ``asr.engine`` names (faster-whisper by
    default). The model loads in the background at start (a first download can take minutes,
    with progress in the replica log); until then, or if it cannot load, ``status()`` says
    why and voice input is reported unavailable to clients."""

    def __init__(self, settings: dict) -> None:
        # An engine from Settings.plugins (a test's fake) is imported here, by the validation.
        self._settings = Settings.load(settings)
        self._engine: ASR | None = None
        self._state = "loading"
        self._reason = f"loading speech model {self._settings.asr.label}"
        threading.Thread(target=self._load, daemon=True, name="asr-load").start()

    def _load(self) -> None:
        s = self._settings
        try:
            self._engine = asr_engines.create(s.asr, models_dir=s.models_dir)
            self._state, self._reason = "ready", ""
            log.info("ASR model %s ready", s.asr.label)
        except Exception as exc:  # unavailable ASR degrades voice input, never the server
            # Clients get a plain sentence; the cause (often a long resolver or Hub error) is
            # for the operator's log only.
            log.warning("voice input unavailable: %s", exc)
            self._reason = "the speech model could not be loaded on this server"
            self._state = "unavailable"

    def status(self) -> dict:
        return {"available": self._state == "ready", "state": self._state, "reason": self._reason}

    async def transcribe(self, utterance: Utterance) -> Transcript:
        if self._engine is None:
            raise RuntimeError(self._reason)
        return await self._engine.atranscribe(utterance)

    async def ready(self) -> bool:
        return True  # an unavailable model is reported by status(), not as an unhealthy replica
