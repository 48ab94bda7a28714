"""The real faster-whisper path through the ASR Serve deployment, with a tiny random model."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import numpy as np
import pytest

from config import Settings
from tests.fakes.gated_asr import release_file
from tests.fakes.speech import speech_with_silence
from tests.fakes.tiny_whisper import build_tiny_whisper
from tests.serve_fixtures import DEFAULT_ARGS, running_app
from tests.ws_client import ChatClient

pytestmark = pytest.mark.integration
# 20 ms messages no faster than the server's message rate limit allows (with a margin), so a
# fast machine does not get audio dropped as 'rate_limited'.
SEND_INTERVAL_S = 1.25 / Settings.load(DEFAULT_ARGS).server.max_messages_per_s


@pytest.fixture(scope="module")
def whisper_app(app_url, tmp_path_factory):
    """A second app on the same Ray and Serve, its ASR loading the tiny model directory once
    the test creates ``release`` (the session's "loading" state lasts until then)."""
    model_dir = build_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"))
    release = release_file(model_dir)
    args = {
        "plugins": ["tests.fakes.gated_asr"],
        "asr": {"engine": "gated", "model": str(model_dir), "beam_size": 1},
    }
    with running_app(args, name="whisper", route_prefix="/whisper") as base:
        try:
            yield SimpleNamespace(base=base, release=release)
        finally:
            release.touch()  # ends a loader still waiting, whatever the test did


async def test_tiny_whisper_transcribes_through_the_deployment(whisper_app):
    pcm, _ = speech_with_silence(["Hello, can you hear me?"], [0.3, 1.0])
    async with ChatClient(whisper_app.base) as c:
        # The model loads in the background after the replica starts; the session says so,
        # then announces when it is ready.
        voice = c.hello["voice_input"]
        assert (voice["state"], voice["available"]) == ("loading", False)
        assert voice["min_silence_ms"] == 500
        whisper_app.release.touch()
        ready = (await c.until("voice_input", timeout=120)).events[-1]
        assert ready["available"] is True and ready["state"] == "ready"
        data = pcm.astype("<i2").tobytes()
        for at in range(0, len(data), 1280):
            await c.send(data[at : at + 1280])
            await asyncio.sleep(SEND_INTERVAL_S)
        await c.send(np.zeros(16000, np.int16).tobytes())  # trailing silence ends the utterance
        got = await c.until("transcript", timeout=60)
    assert not got.of_type("error"), got.of_type("error")
    transcript = got.of_type("transcript")[0]
    assert isinstance(transcript["text"], str)  # random weights: the words mean nothing
    assert transcript["language"] and transcript["asr_s"] > 0
    assert transcript["end_s"] > transcript["start_s"] > 0
