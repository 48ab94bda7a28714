"""avatar-chat's pipeline workers: plain classes, one stage each, constructible without Ray.

    SentenceSplitter      TextDelta -> Sentence                     actors.pipeline.splitter
    ChatLLM, EchoLLM      Transcript -> TextDelta stream            actors.engines.llm
    ChatHistory           the messages sent with each request       actors.pipeline.history
    EdgeTTS               Sentence -> TTSAudio (online)             actors.engines.tts.edge
    EspeakTTS             Sentence -> TTSAudio (offline)            actors.engines.tts.espeak
    FallbackTTS           Sentence -> TTSAudio (circuit breaker)    actors.engines.tts.fallback
    SileroVAD             AudioChunk -> SpeechStarted | Utterance   actors.engines.vad.silero
    WhisperASR            Utterance -> Transcript                   actors.engines.asr.whisper
    FragmentedMP4Encoder  TTSAudio + frames -> MediaChunk           actors.media.encoder
    TurnPipeline          TextDelta stream -> TurnEvent stream      actors.pipeline.turn
    Conversation          user text -> reply events                 actors.pipeline.conversation

``messages`` holds the typed frames they exchange; avatars are in ``actors.engines.avatar``.
Each name is imported on first use: the stages pull in openai, edge-tts, PyAV, ONNX
Runtime and faster-whisper, which ``import actors.core.messages`` should not pay for.
``actors.session.actor`` (the Ray actor) is not exported here: it imports ray.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "SentenceSplitter": "actors.pipeline.splitter",
    "ChatLLM": "actors.engines.llm.openai_chat",
    "EchoLLM": "actors.engines.llm.echo",
    "ChatHistory": "actors.pipeline.history",
    "EdgeTTS": "actors.engines.tts.edge",
    "EspeakTTS": "actors.engines.tts.espeak",
    "FallbackTTS": "actors.engines.tts.fallback",
    "FragmentedMP4Encoder": "actors.media.encoder",
    "TurnPipeline": "actors.pipeline.turn",
    "Conversation": "actors.pipeline.conversation",
    "SileroVAD": "actors.engines.vad.silero",
    "WhisperASR": "actors.engines.asr.whisper",
}

__all__ = [*_HOMES, "messages"]


def __getattr__(name: str):
    if name == "messages":
        return importlib.import_module("actors.core.messages")
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
