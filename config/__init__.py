"""Typed configuration for avatar-chat."""

from config.settings import (
    ENV_OVERRIDES,
    AvatarSettings,
    EncoderSettings,
    LLMSettings,
    ServerSettings,
    Settings,
    TextSettings,
    TTSSettings,
)

__all__ = [
    "ENV_OVERRIDES",
    "AvatarSettings",
    "EncoderSettings",
    "LLMSettings",
    "ServerSettings",
    "Settings",
    "TTSSettings",
    "TextSettings",
]
