"""Typed settings for avatar-chat.

Every field has a default and a description. Secrets and endpoints come from the
environment (never from files): see ``ENV_OVERRIDES``. Invalid values fail at
start with pydantic's message, which names the field (``tts.timeout_s``).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from config.asr_settings import ASRSettings, WhisperASRSettings
from config.choices_settings import ChoicesSettings
from config.conversation_settings import TextSettings, VADSettings
from config.llm_settings import AUTO, LLMSettings, default_llm_settings
from config.media_settings import AvatarSettings, EncoderSettings, LipSyncSettings
from config.section import Section
from config.server_settings import ServerSettings
from config.tts_settings import FallbackTTSSettings, TTSSettings


class Settings(Section):
    """All settings; ``Settings.load(overrides)`` applies the environment on top."""

    llm: LLMSettings = Field(
        default_factory=default_llm_settings,
        description=(
            "Language model: one engine's settings. `auto` is `openai` when `base_url` or "
            "`api_key` is set, else the offline `echo`; keys of the other engine are ignored."
        ),
        json_schema_extra={"engine": AUTO},
    )
    text: TextSettings = Field(default_factory=TextSettings)
    tts: TTSSettings = Field(
        default_factory=FallbackTTSSettings, description="Speech out: one engine's settings."
    )
    avatar: AvatarSettings = Field(default_factory=AvatarSettings)
    encoder: EncoderSettings = Field(default_factory=EncoderSettings)
    lipsync: LipSyncSettings = Field(default_factory=LipSyncSettings)
    vad: VADSettings = Field(default_factory=VADSettings)
    asr: ASRSettings = Field(
        default_factory=WhisperASRSettings, description="Speech in: one engine's settings."
    )
    server: ServerSettings = Field(default_factory=ServerSettings)
    choices: ChoicesSettings = Field(default_factory=ChoicesSettings)
    models_dir: Path = Field(
        Path("~/.cache/avatar-chat/models").expanduser(),
        description="Where model files are found and downloaded to.",
    )
    avatars_dir: Path = Field(
        Path("~/.cache/avatar-chat/avatars").expanduser(),
        description="Where prepared avatar packs are stored.",
    )
    plugins: list[str] = Field(
        default_factory=list,
        description=(
            "Python modules imported before the other settings are validated, in every "
            "process that loads them (Serve replicas and session hosts too): a module that "
            "registers an engine when imported (e.g. `@asr_engines.register`) makes its name "
            "valid as that capability's `engine`. Tests load their fake engines this way."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _import_plugins(cls, data: Any) -> Any:
        plugins = data.get("plugins") if isinstance(data, dict) else None
        for module in plugins if isinstance(plugins, list) else ():
            if not isinstance(module, str):
                continue  # the field's own validation reports it
            try:
                importlib.import_module(module)
            except ImportError as err:
                raise ValueError(f"plugins: cannot import {module!r} ({err})") from err
        return data

    @classmethod
    def load(cls, overrides: dict[str, Any] | None = None, env: dict[str, str] | None = None):
        """Build settings from nested ``overrides`` (e.g. serve_config args) plus environment."""
        data = _deep_merge(overrides or {}, _from_env(os.environ if env is None else env))
        return cls.model_validate(data)

    def with_overrides(self, overrides: dict[str, Any]) -> Settings:
        """A validated copy with ``overrides`` on top: command-line flags beat the environment."""
        return type(self).model_validate(_deep_merge(self.model_dump(), overrides))


# Environment variable -> dotted settings path. Secrets come only from here.
ENV_OVERRIDES: dict[str, str] = {
    "OPENAI_API_KEY": "llm.api_key",
    "OPENAI_BASE_URL": "llm.base_url",
    "AVATAR_CHAT_LLM_MODEL": "llm.model",
    "AVATAR_CHAT_MODELS_DIR": "models_dir",
    "AVATAR_CHAT_AVATARS_DIR": "avatars_dir",
    "AVATAR_CHAT_TTS_ENGINE": "tts.engine",
}


def _from_env(env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for var, path in ENV_OVERRIDES.items():
        value = env.get(var)
        if value:
            node = out
            *parents, leaf = path.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
    return out


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    if "engine" in top and top["engine"] != base.get("engine", top["engine"]):
        return dict(top)  # another engine: the old one's settings do not apply to it
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
