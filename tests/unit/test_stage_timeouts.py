"""A deployment that stops answering (all its replicas gone with a lost node) costs a turn a
sentence or the rest of its reply, within ``server.stage_timeout_s``: the turn never hangs."""

from __future__ import annotations

import asyncio

import pytest

from actors.core.errors import ErrorCode
from actors.core.events import ErrorEvent, TurnEndEvent
from actors.engines.llm import EchoLLM
from actors.pipeline.conversation import Conversation
from actors.session.remote_stages import DeploymentStages
from config import Settings
from tests.fakes.fake_handles import FakeAvatarHandle, FakeTTSHandle

pytestmark = pytest.mark.unit

TIMEOUT_S = 0.3  # the fakes below take 60 s: only the timeout can end their calls
REPLY = "Hello there. How are you? " + " ".join(f"Sentence {i} follows." for i in range(6))


async def _turn(tts: FakeTTSHandle, avatar: FakeAvatarHandle) -> tuple[list, DeploymentStages]:
    settings = Settings.load({"server": {"stage_timeout_s": TIMEOUT_S}}, env={})
    stages = DeploymentStages(tts=tts, avatar=avatar, settings=settings, avatar_info=avatar.info)
    conv = Conversation(session_id="s", llm=EchoLLM(chars_per_s=100000), pipeline=stages.pipeline())
    conv.submit_text(REPLY)
    items = [await asyncio.wait_for(conv.outbox.get(), 30)]
    while not isinstance(items[-1], TurnEndEvent):
        items.append(await asyncio.wait_for(conv.outbox.get(), 30))
    await conv.close()
    return items, stages


def _errors(items: list) -> list[str]:
    return [i.code for i in items if isinstance(i, ErrorEvent)]


async def test_speech_that_never_comes_skips_its_sentences_and_the_turn_ends():
    tts = FakeTTSHandle(delay_s=60)
    items, stages = await _turn(tts, FakeAvatarHandle())
    assert _errors(items) == [ErrorCode.TTS_ERROR] * 8  # every sentence, each said
    # Only the first wave (pipeline_depth 3, in flight together) waited out the timeout, and
    # was cancelled; the later sentences were not sent at all (3 more waves otherwise).
    assert len(tts.responses) == 3 and all(r.cancelled for r in tts.responses)
    assert tts.calls == 3
    assert stages.turn_state == {"audio_refs": 0, "frame_streams": 0}


async def test_frames_that_never_come_cut_the_reply_and_the_turn_ends():
    avatar = FakeAvatarHandle(delay_s=60)
    items, stages = await _turn(FakeTTSHandle(), avatar)
    assert _errors(items) == [ErrorCode.AVATAR_ERROR]  # the reply is cut at its first sentence
    assert avatar.streams and all(s.cancelled for s in avatar.streams)
    assert stages.turn_state == {"audio_refs": 0, "frame_streams": 0}


def test_the_timeout_is_validated():
    with pytest.raises(ValueError, match="stage_timeout_s"):
        Settings.load({"server": {"stage_timeout_s": 0}}, env={})
