"""The ASR capability: ``Utterance -> Transcript``, one complete stretch of speech at a time."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from actors.core.messages import Transcript, Utterance
from actors.engines.engine_registry import Engine, EngineRegistry
from config.asr_settings import ASREngineSettings

__all__ = ["ASR", "asr_engines", "utterance_of"]


class ASR(Engine, ABC):
    """``Utterance -> Transcript``: what was said in one utterance (PCM16 mono, any rate).

    An engine is ready once constructed: its model loads in the constructor, which may
    block for minutes (a first download) and raises when the model cannot be had. The ASR
    deployment builds it in a background thread (``from_settings``) and reports "loading"
    or "unavailable" meanwhile. ``transcribe`` blocks and may run in several threads at
    once; empty audio gives empty text. A failure raises (the session reports it).
    """

    name: str
    settings_class: type[ASREngineSettings]

    @classmethod
    def from_settings(cls, settings: ASREngineSettings, *, models_dir: Path | None = None):
        """The engine for ``settings``; ``models_dir`` (``Settings.models_dir``) is where an
        engine with model files finds and downloads them. This default ignores it."""
        return cls(settings)

    @abstractmethod
    def transcribe(self, utterance: Utterance) -> Transcript:
        """Recognise ``utterance`` (blocking); ``asr_s`` is the time it took. An engine that
        can be told the language listens for ``utterance.language`` when it is set (a
        session's choice; None: its configured language)."""

    async def atranscribe(self, utterance: Utterance) -> Transcript:
        """``transcribe`` in a worker thread, so the event loop keeps running."""
        return await asyncio.to_thread(self.transcribe, utterance)


def utterance_of(pcm: np.ndarray, sample_rate: int = 16000) -> Utterance:
    """``pcm`` as an utterance starting at 0 s (audio that did not come through a VAD)."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    return Utterance(pcm=pcm, sample_rate=sample_rate, start_s=0.0, end_s=len(pcm) / sample_rate)


asr_engines: EngineRegistry[ASR] = EngineRegistry("ASR", ASR, ASREngineSettings)
