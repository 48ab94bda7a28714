"""Typed configuration for avatar-chat."""

from config.conversation_settings import (
    ASRSettings,
    LLMSettings,
    TextSettings,
    VADSettings,
)
from config.media_settings import AvatarSettings, EncoderSettings, LipSyncSettings
from config.server_settings import ServerSettings
from config.settings import ENV_OVERRIDES, Settings
from config.tts_settings import (
    EdgeTTSSettings,
    EspeakTTSSettings,
    FallbackTTSSettings,
    TTSEngineSettings,
    TTSSettings,
)

__all__ = [
    "EdgeTTSSettings",
    "EspeakTTSSettings",
    "FallbackTTSSettings",
    "TTSEngineSettings",
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
