"""Typed settings: defaults, environment overrides, validation messages, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from config import Settings
from config.reference import render

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_offline_and_valid():
    s = Settings.load(env={})
    assert s.llm.engine == "echo" and s.tts.engine == "fallback" and s.avatar.kind == "sprite"
    assert s.asr.engine == "whisper" and s.plugins == []


def test_environment_overrides_endpoint_model_and_key():
    env = {
        "OPENAI_API_KEY": "sk-test-123",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "AVATAR_CHAT_LLM_MODEL": "local-model",
        "AVATAR_CHAT_MODELS_DIR": "/tmp/models",
    }
    s = Settings.load({"llm": {"model": "from-args"}}, env=env)
    assert s.llm.base_url == "http://127.0.0.1:9/v1" and s.llm.model == "local-model"
    assert s.llm.api_key.get_secret_value() == "sk-test-123"
    assert s.models_dir == Path("/tmp/models") and s.llm.engine == "openai"


def test_secret_never_appears_in_repr_or_dumps():
    s = Settings.load(env={"OPENAI_API_KEY": "sk-very-secret"})
    assert "sk-very-secret" not in repr(s)
    assert "sk-very-secret" not in s.model_dump_json()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"tts": {"timeout_s": 0}}, "tts.timeout_s"),
        ({"tts": {"sample_rate": 44100}}, "tts.sample_rate"),
        ({"avatar": {"size": 1000}}, "avatar.size"),
        ({"avatar": {"fps": 30}}, "avatar.fps"),
        ({"server": {"max_sessions": 0}}, "server.max_sessions"),
        ({"tts": {"engine": "festival"}}, "unknown engine 'festival'"),
        ({"tts": {"voice": "x"}}, "tts.voice"),  # unknown keys are refused, not ignored
        ({"tts": {"primary": {"engine": "espeak", "rate_wpm": 9}}}, "tts.primary.rate_wpm"),
    ],
)
def test_invalid_values_name_the_field(overrides, field):
    with pytest.raises(ValidationError) as err:
        Settings.load(overrides, env={})
    assert field in str(err.value)


def test_configuration_reference_is_current():
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == render(), "run: python -m config.reference > docs/configuration.md"


def test_command_line_overrides_beat_the_environment():
    s = Settings.load(env={"AVATAR_CHAT_TTS_ENGINE": "edge"})
    assert s.tts.engine == "edge"
    assert s.with_overrides({"tts": {"engine": "espeak"}}).tts.engine == "espeak"
    with pytest.raises(ValidationError, match="avatar.size"):
        s.with_overrides({"avatar": {"size": 9}})
