"""Typed configuration for avatar-chat."""

from config.asr_settings import ASREngineSettings, ASRSettings, WhisperASRSettings
from config.choices_settings import ChoicesSettings, tts_voices
from config.conversation_settings import TextSettings, VADSettings
from config.llm_settings import (
    EchoLLMSettings,
    LLMEngineSettings,
    LLMSettings,
    OpenAIChatSettings,
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
    "ASREngineSettings",
    "ASRSettings",
    "ChoicesSettings",
    "EchoLLMSettings",
    "LLMEngineSettings",
    "OpenAIChatSettings",
    "WhisperASRSettings",
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
    "tts_voices",
]
