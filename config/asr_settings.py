"""Speech in: the settings of each ASR engine, chosen by ``asr.engine``.

``whisper`` (the default, and the one engine avatar-chat ships) runs faster-whisper. Other
engines join by registering (``actors.engines.asr.asr_engines.register``); an engine from
outside the package is named in ``Settings.plugins`` so every process imports it first.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from config.engine_settings import EngineSettings, engine_choice, register_engine_settings

__all__ = ["ASREngineSettings", "ASRSettings", "WhisperASRSettings"]


class ASREngineSettings(EngineSettings):
    """What every ASR engine has: its registry name."""


class WhisperASRSettings(ASREngineSettings):
    engine: Literal["whisper"] = Field(
        "whisper", description="faster-whisper (CTranslate2 Whisper models), on CPU or CUDA."
    )
    model: str = Field(
        "base",
        description="faster-whisper model name (downloaded on first use) or local model dir.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: CUDA float16 when a GPU is present, else CPU int8."
    )
    compute_type: str | None = Field(None, description="CTranslate2 compute type (None: auto).")
    language: str | None = Field("en", description="Spoken language; None detects it.")
    beam_size: int = Field(1, ge=1, le=10, description="Beam width; 1 is fastest.")
    cpu_threads: int = Field(0, ge=0, description="CPU threads per replica (0: library default).")
    local_files_only: bool = Field(
        False, description="Never download: use only models already in models_dir."
    )

    @property
    def label(self) -> str:
        return f"whisper {self.model!r}"


register_engine_settings(ASREngineSettings, WhisperASRSettings)

ASRSettings = engine_choice(ASREngineSettings, default="whisper")  # the type of ``Settings.asr``
