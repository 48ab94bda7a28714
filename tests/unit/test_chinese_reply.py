"""A Chinese question, offline: the echo reply is spoken with espeak-ng's Chinese voice.

Issue #12's first complaint: 你好！请介绍一下你自己。 came back as 14.5 s of "Chinese letter"
from the English voice. Through the real pipeline (echo LLM, splitter, espeak-ng, sprite,
encoder): every sentence with Han characters gets ``cmn``, the English one ``en-us``.
"""

from __future__ import annotations

import pytest

from actors.core.messages import Transcript
from actors.engines.llm import EchoLLM
from actors.pipeline.history import ChatHistory
from actors.pipeline.local_stages import LocalStages
from actors.pipeline.turn_events import SentenceStarted, TurnDone
from config import Settings

pytestmark = pytest.mark.unit


async def test_chinese_echo_reply_is_spoken_in_chinese_and_english_in_english() -> None:
    settings = Settings.load({"tts": {"engine": "espeak"}, "avatar": {"size": 256}}, env={})
    stages = LocalStages(settings)
    deltas = EchoLLM(chars_per_s=1e6).stream(
        ChatHistory(), Transcript("你好！请介绍一下你自己。How are you?")
    )
    sentences, done = [], None
    async for event in stages.pipeline().run(deltas):
        if isinstance(event, SentenceStarted):
            sentences.append(event.sentence)
        elif isinstance(event, TurnDone):
            done = event
    voices = [stages.tts.voice_for(s) for s in sentences]
    assert [s.text for s in sentences][-1] == "How are you?"
    assert voices == ["cmn"] * (len(sentences) - 1) + ["en-us"]
    assert done is not None and done.media_s < 7.0  # the English voice took 14.5 s for less
