"""``build_app(args)``: the Serve application named in serve_config.yaml's import_path."""

from __future__ import annotations

import logging

from ray.serve import Application

from config import Settings
from serve_app.deployments import TTSDeployment
from serve_app.ingress import Ingress
from serve_app.speech import ASRDeployment
from serve_app.wav2lip_avatar import avatar_deployment

log = logging.getLogger("avatar_chat.app")


def build_app(args: dict | None = None) -> Application:
    """Validate ``args`` (settings overrides) plus the environment, then bind the deployments.

    Invalid settings fail here, at ``serve run`` time, with pydantic's message naming
    the field. The API key is left out of the deployment arguments (which Serve
    stores and shows): each actor reads it from its own environment.
    """
    settings = Settings.load(args or {})
    data = settings.model_dump(mode="json", exclude={"llm": {"api_key"}})
    log.info(
        "avatar-chat: llm=%s tts=%s avatar=%s",
        _llm_label(settings),
        settings.tts.engine,
        settings.avatar.kind,
    )
    tts = TTSDeployment.bind(data)
    avatar = avatar_deployment(settings)  # Wav2Lip + LipSync, or the sprite (with a note)
    asr = ASRDeployment.bind(data) if settings.vad.enabled else None
    return Ingress.bind(data, tts, avatar, asr)


def _llm_label(settings: Settings) -> str:
    if settings.llm.offline:
        return "offline echo"
    return f"{settings.llm.model} @ {settings.llm.base_url}"
