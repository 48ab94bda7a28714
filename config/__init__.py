"""Typed configuration for avatar-chat."""

from config.settings import (
    ENV_OVERRIDES,
    AvatarSettings,
    EncoderSettings,
    LipSyncSettings,
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
    "LipSyncSettings",
    "LLMSettings",
    "ServerSettings",
    "Settings",
    "TTSSettings",
    "TextSettings",
]
