"""VoiceInput loads its VAD (Silero on ONNX Runtime) on the first audio, not before."""

from __future__ import annotations

import numpy as np
import pytest

from actors.engines.llm import EchoLLM
from actors.engines.vad.silero import SileroVAD
from actors.pipeline.conversation import Conversation
from actors.pipeline.voice_input import VoiceInput
from config import Settings

pytestmark = pytest.mark.unit


class _NoMedia:
    """No turn runs here (silence starts none); Conversation only needs a pipeline."""

    async def run(self, deltas, *, turn_id: str = ""):
        raise AssertionError("no turn expected")
        yield


async def test_the_vad_is_loaded_on_the_first_audio_only(monkeypatch):
    loads = []
    real = SileroVAD.from_settings.__func__

    def counting(cls, settings):
        loads.append(settings)
        return real(cls, settings)

    monkeypatch.setattr(SileroVAD, "from_settings", classmethod(counting))

    async def transcribe(utterance):
        raise AssertionError("no speech in silence")

    conv = Conversation(session_id="s", llm=EchoLLM(), pipeline=_NoMedia())
    voice = VoiceInput(
        conversation=conv, transcribe=transcribe, settings=Settings.load({}, env={}).vad
    )
    assert loads == []  # a session that only types never loads it
    await voice.feed(np.zeros(1600, np.int16))
    await voice.feed(np.zeros(1600, np.int16))
    assert len(loads) == 1 and isinstance(voice.vad, SileroVAD)
    await voice.close()
