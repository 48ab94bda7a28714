"""What clients are told about voice input is a plain sentence, never the exception text."""

from __future__ import annotations

import time

import pytest

from config import Settings
from serve_app.deployments.asr import ASRDeployment
from tests.fakes.failing_asr import SECRET_LOOKING_DETAIL

pytestmark = pytest.mark.unit


def test_an_asr_that_cannot_load_is_unavailable_with_a_plain_reason(caplog):
    overrides = {"plugins": ["tests.fakes.failing_asr"], "asr": {"engine": "failing"}}
    settings = Settings.load(overrides, env={})
    cls = ASRDeployment.func_or_class
    replica = cls(settings.model_dump(mode="json", exclude={"llm": {"api_key"}}))
    deadline = time.monotonic() + 60  # the load runs in a background thread
    while replica.status()["state"] == "loading":
        assert time.monotonic() < deadline, "the ASR load never finished"
        time.sleep(0.01)
    status = replica.status()
    assert status["available"] is False and status["state"] == "unavailable"
    assert status["reason"] == "the speech model could not be loaded on this server"
    assert "404" not in status["reason"] and "Error" not in status["reason"]
    # The cause is for the operator, in the log.
    assert any(SECRET_LOOKING_DETAIL in r.getMessage() for r in caplog.records)
