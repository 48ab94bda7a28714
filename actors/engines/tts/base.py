"""The TTS capability: ``Sentence -> TTSAudio``, PCM16 mono at the engine's ``sample_rate``.

``speakable_text`` is what every engine actually speaks (user input was validated earlier
by ``actors.core.textclean.clean_text``); text with nothing to speak gives ``silence``.
"""

from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod

import numpy as np

from actors.core.messages import Sentence, TTSAudio
from actors.engines.engine_registry import Engine, EngineRegistry
from config.tts_settings import TTSEngineSettings

__all__ = ["SILENCE_S", "TTS", "silence", "speakable_text", "tts_engines"]

SILENCE_S = 0.1  # what an engine returns for text with nothing to speak


class TTS(Engine, ABC):
    """``Sentence -> TTSAudio``. An engine sets ``name`` and ``sample_rate`` and implements
    ``synthesize``; failures raise (a composite such as ``FallbackTTS`` handles them)."""

    name: str
    sample_rate: int
    settings_class: type[TTSEngineSettings]

    @abstractmethod
    async def synthesize(self, sentence: Sentence) -> TTSAudio:
        """Speech for ``sentence.text``; the result carries ``sentence`` and this ``name``."""

    async def aclose(self) -> None:  # noqa: B027 - engines with connections override it
        """Release what the engine holds (connections, threads); it is not used afterwards."""


def speakable_text(text: str) -> str:
    """Text safe to hand to a speech engine: control and format characters removed.

    Control characters (NUL would end a C string) become spaces; format characters
    (bidi marks, zero-width joiners) and lone surrogates (not encodable as UTF-8) are
    dropped. Everything else, any script or emoji, is kept for the engine to read.
    """
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cc":
            kept.append(" ")
        elif category not in ("Cf", "Cs"):
            kept.append(ch)
    return " ".join("".join(kept).split())


def silence(sample_rate: int, seconds: float = SILENCE_S) -> np.ndarray:
    return np.zeros(round(sample_rate * seconds), dtype=np.int16)


tts_engines: EngineRegistry[TTS] = EngineRegistry("TTS", TTS, TTSEngineSettings)
