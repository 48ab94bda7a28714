"""Per-turn state is released however a turn ends; stream markers survive an interrupt."""

from __future__ import annotations

import asyncio

import pytest

from actors.core.errors import InterruptReason
from actors.core.events import InterruptedEvent
from actors.core.messages import MediaChunk
from actors.engines.llm import EchoLLM
from actors.pipeline.conversation import Conversation
from actors.pipeline.outbox import StreamBreak
from actors.session.remote_stages import DeploymentStages
from config import Settings
from tests.fakes.fake_handles import FakeAvatarHandle, FakeTTSHandle

pytestmark = pytest.mark.unit
LONG = " ".join(f"This is sentence number {i} of a long reply." for i in range(8))


def session():
    avatar = FakeAvatarHandle()
    settings = Settings.load({"server": {"max_lead_s": 1.0, "pipeline_depth": 3}}, env={})
    stages = DeploymentStages(
        tts=FakeTTSHandle(), avatar=avatar, settings=settings, avatar_info=avatar.info
    )
    conv = Conversation(session_id="s", llm=EchoLLM(chars_per_s=20000), pipeline=stages.pipeline())
    return conv, stages, avatar


async def next_media(conv: Conversation) -> None:
    while not isinstance(await asyncio.wait_for(conv.outbox.get(), 30), MediaChunk):
        pass


async def test_fifty_interrupted_turns_leave_nothing_per_turn_behind():
    conv, stages, avatar = session()
    for _ in range(50):
        conv.submit_text(LONG)
        await next_media(conv)  # the turn is speaking sentences ahead of its playback
        assert stages.turn_state["audio_refs"] + stages.turn_state["frame_streams"] > 0
        await conv.interrupt(InterruptReason.CLIENT)
        assert stages.turn_state == {"audio_refs": 0, "frame_streams": 0}
    assert all(s.cancelled or s._left == 0 for s in avatar.streams)
    assert len(conv.history) == 2 * min(50, conv.history.max_messages // 2)
    await conv.close()


async def test_a_completed_turn_leaves_nothing_per_turn_behind():
    conv, stages, avatar = session()
    conv.submit_text("Hello there. How are you?")
    media = []
    while conv.busy:
        item = await asyncio.wait_for(conv.outbox.get(), 30)
        media += [item] if isinstance(item, MediaChunk) else []
    assert stages.turn_state == {"audio_refs": 0, "frame_streams": 0}
    # Frames were asked for in I420 (half the bytes through the object store) and encoded.
    assert avatar.pix_fmts == ["yuv420p", "yuv420p"]
    assert [c.kind for c in media][:2] == ["init", "fragment"]


async def test_an_interrupt_with_a_stream_marker_queued_keeps_the_marker():
    """A marker (no turn of its own) survives the purge of the interrupted turn's items."""
    conv, _, _ = session()
    conv.submit_text(LONG)
    await next_media(conv)
    marker = StreamBreak()
    conv.put(marker)
    turn_id = await conv.interrupt(InterruptReason.CLIENT)
    kept = [conv.outbox.get_nowait() for _ in range(conv.outbox.qsize())]
    assert marker in kept
    assert kept[-1] == InterruptedEvent(turn_id, InterruptReason.CLIENT)
    assert not any(isinstance(i, MediaChunk) and i.turn_id == turn_id for i in kept)
    await conv.close()
