"""Typed configuration for avatar-chat."""

from config.settings import (
    ENV_OVERRIDES,
    ASRSettings,
    AvatarSettings,
    EncoderSettings,
    LipSyncSettings,
    LLMSettings,
    ServerSettings,
    Settings,
    TextSettings,
    TTSSettings,
    VADSettings,
)

__all__ = [
    "ASRSettings",
    "ENV_OVERRIDES",
    "AvatarSettings",
    "EncoderSettings",
    "LipSyncSettings",
    "LLMSettings",
    "ServerSettings",
    "Settings",
    "TTSSettings",
    "TextSettings",
    "VADSettings",
]
