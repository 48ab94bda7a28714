"""Speech out: the settings of each TTS engine, chosen by ``tts.engine``.

``fallback`` (the default) puts one engine behind another with a timeout and a circuit
breaker: edge-tts's online voices first, espeak-ng offline when they fail. ``edge`` or
``espeak`` alone use only that engine. Every engine speaks at ``sample_rate`` (in ``fallback``,
the section's rate is both engines' rate).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.engine_settings import EngineSettings, engine_choice, register_engine_settings

__all__ = [
    "EdgeTTSSettings",
    "EspeakTTSSettings",
    "FallbackTTSSettings",
    "TTSChoice",
    "TTSEngineSettings",
    "TTSSettings",
]


class TTSEngineSettings(EngineSettings):
    """What every TTS engine has: its name and the rate of the PCM it returns."""

    sample_rate: int = Field(24000, description="Output sample rate of all speech (Hz).")

    @field_validator("sample_rate")
    @classmethod
    def _rate(cls, v: int) -> int:
        if v not in (16000, 24000, 48000):
            raise ValueError("must be 16000, 24000 or 48000")
        return v


class EdgeTTSSettings(TTSEngineSettings):
    engine: Literal["edge"] = Field("edge", description="Microsoft Edge's online voices.")
    voice: str = Field("en-US-AriaNeural", description="edge-tts voice name.")
    proxy: str | None = Field(None, description="http://host:port proxy for edge-tts (None: none).")
    connect_timeout_s: int = Field(10, gt=0, description="edge-tts connection timeout.")


class EspeakTTSSettings(TTSEngineSettings):
    engine: Literal["espeak"] = Field("espeak", description="espeak-ng, offline.")
    voice: str = Field("en-us", min_length=1, description="espeak-ng voice (language) name.")
    rate_wpm: int = Field(165, ge=80, le=450, description="espeak-ng speaking rate.")


TTSChoice = engine_choice(TTSEngineSettings, default="fallback")


class FallbackTTSSettings(TTSEngineSettings):
    engine: Literal["fallback"] = Field(
        "fallback", description="`primary`, and `fallback` when it fails or is slow."
    )
    primary: TTSChoice = Field(default_factory=EdgeTTSSettings, description="Engine tried first.")
    fallback: TTSChoice = Field(
        default_factory=EspeakTTSSettings, description="Engine used when the primary fails."
    )
    timeout_s: float = Field(
        2.0, gt=0, description="A primary sentence slower than this goes to the fallback."
    )
    retry_after_s: float = Field(
        30.0, ge=0, description="After a primary failure, use the fallback only for this long."
    )

    @model_validator(mode="after")
    def _one_rate(self) -> FallbackTTSSettings:
        # Both engines speak at this section's rate: the turn's audio track has one rate.
        for part in (self.primary, self.fallback):
            object.__setattr__(part, "sample_rate", self.sample_rate)
        return self


for _settings in (EdgeTTSSettings, EspeakTTSSettings, FallbackTTSSettings):
    register_engine_settings(TTSEngineSettings, _settings)

TTSSettings = TTSChoice  # the type of ``Settings.tts``
