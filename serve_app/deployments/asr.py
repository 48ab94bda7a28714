"""The ASR deployment: a pool of faster-whisper replicas shared by all sessions."""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading

import numpy as np
from ray import serve

from actors.core.messages import Transcript
from config import Settings

log = logging.getLogger("avatar_chat.asr")


def load_worker(settings: Settings):
    """Construct the configured ASR worker (``module:Class``) with the ASR settings."""
    a = settings.asr
    module, _, name = a.worker.partition(":")
    cls = getattr(importlib.import_module(module), name)
    return cls(
        a.model,
        device=a.device,
        compute_type=a.compute_type,
        language=a.language,
        beam_size=a.beam_size,
        cpu_threads=a.cpu_threads,
        download_root=str(settings.models_dir),
        local_files_only=a.local_files_only,
    )


@serve.deployment(name="ASR", ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=4)
class ASRDeployment:
    """``Utterance PCM -> Transcript``. The model loads in the background at start (a first
    download can take minutes, with progress in the replica log); until then, or if it cannot
    load, ``status()`` says why and voice input is reported unavailable to clients."""

    def __init__(self, settings: dict) -> None:
        self._settings = Settings.load(settings)
        self._worker = None
        self._state = "loading"
        self._reason = f"loading speech model {self._settings.asr.model!r}"
        threading.Thread(target=self._load, daemon=True, name="asr-load").start()

    def _load(self) -> None:
        try:
            self._worker = load_worker(self._settings)
            self._state, self._reason = "ready", ""
            log.info("ASR model %r ready", self._settings.asr.model)
        except Exception as exc:  # unavailable ASR degrades voice input, never the server
            # Clients get a plain sentence; the cause (often a long resolver or Hub error) is
            # for the operator's log only.
            log.warning("voice input unavailable: %s", exc)
            self._reason = "the speech model could not be loaded on this server"
            self._state = "unavailable"

    def status(self) -> dict:
        return {"available": self._state == "ready", "state": self._state, "reason": self._reason}

    async def transcribe(self, pcm: np.ndarray, sample_rate: int = 16000) -> Transcript:
        if self._worker is None:
            raise RuntimeError(self._reason)
        return await asyncio.to_thread(self._worker.transcribe, pcm, sample_rate)

    async def ready(self) -> bool:
        return True  # an unavailable model is reported by status(), not as an unhealthy replica
