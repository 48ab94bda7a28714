"""avatar-chat's workers, by layer; everything here runs without Serve.

    core       typed messages, server events, error codes
    engines    one abstract class per capability (llm, tts, asr, vad, avatar), engines by name
    media      the fragmented-MP4 encoder
    pipeline   the turn: splitter, turn pipeline, conversation, voice input, outbox
    session    the Ray actor of a session and its remote stages
    cli        the ``avatar-chat`` command (the top: nothing else here imports it)

The main classes are importable from here too (``from actors import TurnPipeline``), each
imported on first use: the engines pull in openai, edge-tts, PyAV, ONNX Runtime and
faster-whisper, which ``import actors.core`` should not pay for.
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
