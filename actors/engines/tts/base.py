"""The TTS capability: ``Sentence -> TTSAudio``, PCM16 mono at the engine's ``sample_rate``.

``speakable_text`` is what every engine actually speaks (user input was validated earlier
by ``actors.core.textclean.clean_text``); text with nothing to speak gives ``silence``.
``choose_voice`` picks an engine's voice for a sentence's language. An engine that will not
speak a sentence (a voice that cannot read its text) raises ``TTSRefused``; other failures
(network, timeouts, server errors) raise what they are.
"""

from __future__ import annotations

import logging
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping

import numpy as np

from actors.core.language import sentence_language
from actors.core.messages import Sentence, TTSAudio
from actors.engines.engine_registry import Engine, EngineRegistry
from config.tts_settings import TTSEngineSettings

__all__ = [
    "SILENCE_S",
    "TTS",
    "TTSRefused",
    "choose_voice",
    "silence",
    "speakable_text",
    "tts_engines",
]

log = logging.getLogger(__name__)

SILENCE_S = 0.1  # what an engine returns for text with nothing to speak


class TTSRefused(Exception):
    """The engine will not speak this sentence (its voice cannot read the text, a malformed
    voice), though it works: another engine may speak the sentence, and the next sentence
    may go to this engine again. Not an outage: ``FallbackTTS``'s breaker stays as it is."""


class TTS(Engine, ABC):
    """``Sentence -> TTSAudio``. An engine sets ``name`` and ``sample_rate`` and implements
    ``synthesize``; failures raise (a composite such as ``FallbackTTS`` handles them)."""

    name: str
    sample_rate: int
    settings_class: type[TTSEngineSettings]
    offered: frozenset[str] | set[str] = frozenset()  # voices a session may choose (names)

    @abstractmethod
    async def synthesize(self, sentence: Sentence) -> TTSAudio:
        """Speech for ``sentence.text``; the result carries ``sentence`` and this ``name``.

        Raises ``TTSRefused`` for a sentence the engine will not speak, anything else for
        a failure of the engine or its service."""

    async def unavailable_reason(self) -> str | None:
        """Why the engine cannot be used at all right now (say, no network for an online
        engine), found cheaply without synthesis; ``None`` when it can. A composite skips an
        unavailable engine without counting that as a failure."""
        return None

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


def choose_voice(
    voices: Mapping[str, str],
    default: str,
    sentence: Sentence,
    engine: str,
    *,
    offered: Collection[str] = (),
) -> str:
    """The voice in ``voices`` (language code -> voice) for ``sentence``'s language, or
    ``default`` for a language ``voices`` lacks (logged at debug level). A ``sentence.voice``
    (a session's choice) that is ``default``, one of ``voices`` or one of ``offered`` (the
    engine's other voices) wins; one the engine does not have (another engine's, in a
    fallback pair) is passed over."""
    chosen = sentence.voice
    if chosen is not None and (chosen == default or chosen in voices.values() or chosen in offered):
        return chosen
    language = sentence_language(sentence)
    voice = voices.get(language)
    if voice is None:
        log.debug("%s has no voice for language %r; %s speaks it", engine, language, default)
        return default
    return voice


def silence(sample_rate: int, seconds: float = SILENCE_S) -> np.ndarray:
    return np.zeros(round(sample_rate * seconds), dtype=np.int16)


tts_engines: EngineRegistry[TTS] = EngineRegistry("TTS", TTS, TTSEngineSettings)
