"""Session outbox batching: reply text is merged and held briefly, nothing else waits."""

from __future__ import annotations

import asyncio

import pytest

from actors.core.events import ReplyDeltaEvent, SentenceEvent, SpeechStartedEvent, TurnStartEvent
from actors.core.messages import MediaChunk
from actors.pipeline.outbox import DroppedTurns, StreamBreak, merge_reply_deltas, next_batch
from tests.fakes.virtual_time import virtual_time

pytestmark = pytest.mark.unit


def delta(text: str, turn: str = "t1") -> ReplyDeltaEvent:
    return ReplyDeltaEvent(turn, text)


def test_adjacent_deltas_of_a_turn_merge_and_nothing_else_does():
    media = MediaChunk(b"x", "fragment", 1, turn_id="t1")
    sentence = SentenceEvent("t1", seq=0, text="Hello", start_s=0.0, duration_s=1.0)
    items = [delta("Hel"), delta("lo "), sentence, delta("a", "t2"), delta("b"), media, delta("!")]
    merged = merge_reply_deltas(items)
    assert merged == [delta("Hello "), sentence, delta("a", "t2"), delta("b"), media, delta("!")]


@virtual_time
async def test_text_is_held_for_the_window_and_merged():
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    queue.put_nowait(delta("One "))

    async def later():
        await asyncio.sleep(0.05)
        queue.put_nowait(delta("two "))
        await asyncio.sleep(0.05)
        queue.put_nowait(delta("three."))

    feeder = asyncio.create_task(later())
    t0 = loop.time()
    batch = await next_batch(queue, window_s=0.5)
    await feeder
    # Everything within the window arrives as one event; the window was neither cut short
    # when text came nor extended by it (virtual time: exact).
    assert batch == [delta("One two three.")]
    assert loop.time() - t0 == pytest.approx(0.5)


@virtual_time
async def test_text_after_the_window_waits_for_the_next_batch():
    queue: asyncio.Queue = asyncio.Queue()
    queue.put_nowait(delta("early "))

    async def later():
        await asyncio.sleep(0.6)
        queue.put_nowait(delta("late"))

    feeder = asyncio.create_task(later())
    assert await next_batch(queue, window_s=0.5) == [delta("early ")]
    assert await next_batch(queue, window_s=0.5) == [delta("late")]
    await feeder


@virtual_time
async def test_media_closes_the_batch_at_once():
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    media = MediaChunk(b"frag", "fragment", 1, turn_id="t1")
    queue.put_nowait(delta("Hi"))

    async def later():
        await asyncio.sleep(0.05)
        queue.put_nowait(media)

    feeder = asyncio.create_task(later())
    t0 = loop.time()
    batch = await next_batch(queue, window_s=5.0)
    await feeder
    assert batch == [delta("Hi"), media]
    # Sent the moment the media came, not held for the 5 s window (virtual time: exact).
    assert loop.time() - t0 == pytest.approx(0.05)


async def test_non_text_first_item_takes_only_what_is_queued():
    queue: asyncio.Queue = asyncio.Queue()
    event = TurnStartEvent("t1", "hi")
    for item in (event, delta("a"), delta("b")):
        queue.put_nowait(item)
    assert await next_batch(queue, window_s=5.0) == [event, delta("ab")]
    assert queue.empty()


async def test_a_barrier_ends_the_batch_and_leaves_the_rest_queued():
    queue: asyncio.Queue = asyncio.Queue()
    marker = StreamBreak()
    for item in (delta("a"), marker, delta("b")):
        queue.put_nowait(item)
    batch = await next_batch(
        queue, window_s=0.0, barrier=lambda item: isinstance(item, StreamBreak)
    )
    assert batch == [delta("a"), marker]
    assert queue.get_nowait() == delta("b")


async def test_zero_window_sends_only_what_is_ready():
    queue: asyncio.Queue = asyncio.Queue()
    queue.put_nowait(delta("a"))
    assert await next_batch(queue, window_s=0.0) == [delta("a")]
    with pytest.raises(ValueError, match="window_s"):
        await next_batch(queue, window_s=-1)


def test_dropped_turns_drop_only_items_of_those_turns():
    cut = DroppedTurns()
    cut.drop("t1")
    cut.drop(None)  # no turn yet: nothing to drop
    assert not cut.keeps(MediaChunk(b"x", "fragment", 0, turn_id="t1"))
    assert not cut.keeps(ReplyDeltaEvent("t1", "hi"))
    assert cut.keeps(MediaChunk(b"x", "fragment", 0, turn_id="t2"))
    assert cut.keeps(SpeechStartedEvent(1.0)) and cut.keeps(StreamBreak())
    assert "t1" in cut and "t2" not in cut
