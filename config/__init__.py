"""Typed configuration for avatar-chat."""

from config.settings import (
    ENV_OVERRIDES,
    AvatarSettings,
    EncoderSettings,
    LLMSettings,
    Settings,
    TextSettings,
    TTSSettings,
)

__all__ = [
    "ENV_OVERRIDES",
    "AvatarSettings",
    "EncoderSettings",
    "LLMSettings",
    "Settings",
    "TTSSettings",
    "TextSettings",
]
