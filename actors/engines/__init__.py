"""Engines, one subpackage per capability, each with a ``base.py`` holding its abstract class:

    llm      LLM            history + Transcript -> TextDelta stream
    tts      TTS            Sentence -> TTSAudio
    asr      ASR            Utterance -> Transcript
    vad      VAD            AudioChunk -> SpeechStarted | Utterance
    avatar   AvatarRenderer TTSAudio -> VideoFrames

Engines are chosen by name: ``engine_registry.EngineRegistry`` builds the one a settings section's
``engine`` names (docs/extending.md shows how to add one).
"""

from actors.engines.engine_registry import Engine, EngineRegistry

__all__ = ["Engine", "EngineRegistry"]
