"""Speech out: the settings of each TTS engine, chosen by ``tts.engine``.

``fallback`` (the default) puts one engine behind another with a timeout and a circuit
breaker: edge-tts's online voices first, espeak-ng offline when they fail. ``edge`` or
``espeak`` alone use only that engine. Every engine speaks at ``sample_rate`` (in ``fallback``,
the section's rate is both engines' rate).

Voices go by language: each sentence is spoken with the engine's voice for its language
(``voices``), and ``voice`` speaks English and any language ``voices`` does not name.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.engine_settings import EngineSettings, engine_choice, register_engine_settings
from config.languages import DEFAULT_LANGUAGE, LANGUAGES

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


def _voices_field(defaults: dict[str, str]):
    others = ", ".join(
        f"`{c}` for {name}" for c, name in LANGUAGES.items() if c != DEFAULT_LANGUAGE
    )
    return Field(
        default_factory=lambda: dict(defaults),
        description=(
            f"Voice per other language, by language code ({others}); a sentence in a "
            "language with no voice here is spoken by `voice`."
        ),
    )


def _check_voices(voices: dict[str, str]) -> dict[str, str]:
    for code, voice in voices.items():
        if code == DEFAULT_LANGUAGE:
            raise ValueError(f"{code!r} is spoken by `voice`; set that instead")
        if code not in LANGUAGES:
            raise ValueError(f"unknown language {code!r}; known: {', '.join(LANGUAGES)}")
        if not voice.strip():
            raise ValueError(f"the voice for {code!r} is empty")
    return voices


def _more_voices_field(defaults: dict[str, list[str]]):
    return Field(
        default_factory=lambda: {k: list(v) for k, v in defaults.items()},
        description=(
            "Other voices a session may choose, by language code, besides the default ones "
            "(`voice`, `voices`); a chosen voice speaks that language's sentences."
        ),
    )


def _check_more_voices(more: dict[str, list[str]]) -> dict[str, list[str]]:
    for code, names in more.items():
        if code not in LANGUAGES:
            raise ValueError(f"unknown language {code!r}; known: {', '.join(LANGUAGES)}")
        if any(not name.strip() for name in names):
            raise ValueError(f"a voice for {code!r} is empty")
    return more


class _VoiceTable:
    """``voice_table`` and ``voice_choices`` for the settings of an engine with ``voice``,
    ``voices`` and ``more_voices`` fields."""

    @property
    def voice_table(self) -> dict[str, str]:
        """Language code -> default voice: the default language's (``voice``), then ``voices``."""
        return {DEFAULT_LANGUAGE: self.voice, **self.voices}

    @property
    def voice_choices(self) -> dict[str, list[str]]:
        """Language code -> every voice of that language, its default first."""
        out = {code: [voice] for code, voice in self.voice_table.items()}
        for code, names in self.more_voices.items():
            listed = out.setdefault(code, [])
            listed.extend(n for n in names if n not in listed)
        return out

    @property
    def all_voices(self) -> set[str]:
        """Every voice name of the engine, any language."""
        return {v for names in self.voice_choices.values() for v in names}


class EdgeTTSSettings(_VoiceTable, TTSEngineSettings):
    engine: Literal["edge"] = Field("edge", description="Microsoft Edge's online voices.")
    voice: str = Field(
        "en-US-AriaNeural",
        min_length=1,
        description="edge-tts voice name for English, and for a language `voices` lacks.",
    )
    voices: dict[str, str] = _voices_field({"zh": "zh-CN-XiaoxiaoNeural"})
    more_voices: dict[str, list[str]] = _more_voices_field(
        {"en": ["en-US-GuyNeural", "en-GB-SoniaNeural"], "zh": ["zh-CN-YunxiNeural"]}
    )
    proxy: str | None = Field(None, description="http://host:port proxy for edge-tts (None: none).")
    connect_timeout_s: int = Field(10, gt=0, description="edge-tts connection timeout.")
    reachability_check_s: float = Field(
        60.0,
        ge=0,
        description="How often to check that the service's host (or the proxy) can be reached "
        "at all (name lookup and TCP connect, 1 s at most). While it cannot, as on a machine "
        "with no network, `fallback` speaks without counting an outage. 0: never check.",
    )

    @field_validator("voices")
    @classmethod
    def _voices(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_voices(v)

    @field_validator("more_voices")
    @classmethod
    def _more_voices(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        return _check_more_voices(v)


class EspeakTTSSettings(_VoiceTable, TTSEngineSettings):
    engine: Literal["espeak"] = Field("espeak", description="espeak-ng, offline.")
    voice: str = Field(
        "en-us",
        min_length=1,
        description="espeak-ng voice (language) name for English, and for a language `voices` "
        "lacks.",
    )
    voices: dict[str, str] = _voices_field({"zh": "cmn"})
    more_voices: dict[str, list[str]] = _more_voices_field(
        {"en": ["en-us+f3", "en-gb-x-rp"], "zh": ["cmn+f3"]}
    )
    rate_wpm: int = Field(165, ge=80, le=450, description="espeak-ng speaking rate.")

    @field_validator("voices")
    @classmethod
    def _voices(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_voices(v)

    @field_validator("more_voices")
    @classmethod
    def _more_voices(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        return _check_more_voices(v)


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
