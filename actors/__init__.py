"""avatar-chat's pipeline workers: plain classes, one stage each, constructible without Ray.

    SentenceSplitter      TextDelta -> Sentence                     actors.text
    ChatLLM, EchoLLM      Transcript -> TextDelta stream            actors.llm
    ChatHistory           the messages sent with each request       actors.history
    EdgeTTS               Sentence -> TTSAudio (online)             actors.tts
    EspeakTTS             Sentence -> TTSAudio (offline)            actors.espeak
    FallbackTTS           Sentence -> TTSAudio (circuit breaker)    actors.tts_fallback
    SileroVAD             AudioChunk -> SpeechStarted | Utterance   actors.vad
    WhisperASR            Utterance -> Transcript                   actors.asr
    FragmentedMP4Encoder  TTSAudio + frames -> MediaChunk           actors.media
    TurnPipeline          TextDelta stream -> TurnEvent stream      actors.turn
    Conversation          user text -> reply events                 actors.conversation

``messages`` holds the typed frames they exchange; avatars are in ``actors.avatar``.
Each name is imported on first use: the stages pull in openai, edge-tts, PyAV, ONNX
Runtime and faster-whisper, which ``import actors.messages`` should not pay for.
``actors.session`` (the Ray actor) is not exported here: it imports ray.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "SentenceSplitter": "actors.text",
    "ChatLLM": "actors.llm",
    "EchoLLM": "actors.llm",
    "ChatHistory": "actors.history",
    "EdgeTTS": "actors.tts",
    "EspeakTTS": "actors.espeak",
    "FallbackTTS": "actors.tts_fallback",
    "FragmentedMP4Encoder": "actors.media",
    "TurnPipeline": "actors.turn",
    "Conversation": "actors.conversation",
    "SileroVAD": "actors.vad",
    "WhisperASR": "actors.asr",
}

__all__ = [*_HOMES, "messages"]


def __getattr__(name: str):
    if name == "messages":
        return importlib.import_module("actors.messages")
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
