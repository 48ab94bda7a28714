"""What a user may choose for their own session: avatar, voice, language and persona.

A client picks these when it connects (``/ws?lang=zh&avatar=NAME&voice=NAME``) and between
turns (a ``configure`` message); docs/protocol.md has the rules. This section says which
choices the server offers: by default every avatar and voice it has, and no persona of the
user's own (the system prompt stays the server's ``llm.persona``).

``tts_voices`` lists the voices of a TTS engine's settings by language: what the TTS
deployment reports, and what a voice choice is checked against.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from config.section import Section
from config.tts_settings import TTSEngineSettings

__all__ = ["ChoicesSettings", "tts_voices"]


def _names(values: list[str]) -> list[str]:
    cleaned = [v.strip() for v in values]
    if any(not v for v in cleaned):
        raise ValueError("names must not be empty")
    return list(dict.fromkeys(cleaned))  # order kept, duplicates dropped


class ChoicesSettings(Section):
    avatars: list[str] = Field(
        default_factory=list,
        description=(
            "Avatars (by name) users may choose; empty: every avatar the Avatar deployment "
            "lists. The server's own avatar is always the default."
        ),
    )
    voices: list[str] = Field(
        default_factory=list,
        description=(
            "TTS voices (by name) users may choose; empty: every voice of the TTS engine "
            "(`voice`, `voices`, `more_voices`; a fallback engine's both)."
        ),
    )
    allow_persona: bool = Field(
        False,
        description=(
            "Let users replace the system prompt (`llm.persona`) with their own for their "
            "session; off: a persona in a configure message is refused."
        ),
    )
    max_persona_chars: int = Field(
        1000, ge=1, le=8000, description="Longest persona a user may set (characters)."
    )

    @field_validator("avatars", "voices")
    @classmethod
    def _clean(cls, v: list[str]) -> list[str]:
        return _names(v)


def tts_voices(settings: TTSEngineSettings) -> dict[str, list[str]]:
    """Language code -> the voice names of ``settings``' engine, defaults first: an engine's
    ``voice_choices``, and those of the engines inside it (a fallback's primary, then its
    fallback), each name once per language."""
    out: dict[str, list[str]] = {}
    _collect(settings, out)
    return out


def _collect(settings: BaseModel, out: dict[str, list[str]]) -> None:
    choices = getattr(settings, "voice_choices", None)
    if isinstance(choices, dict):
        for language, voices in choices.items():
            names = out.setdefault(language, [])
            names.extend(v for v in voices if v not in names)
    for name in type(settings).model_fields:
        part = getattr(settings, name, None)
        if isinstance(part, TTSEngineSettings):
            _collect(part, out)
