"""The Serve app end to end: real local Ray and Serve, a real WebSocket client."""

from __future__ import annotations

import asyncio
import io
import json
import time
import urllib.request

import av
import pytest

from tests.serve_fixtures import session_of
from tests.ws_client import ChatClient

pytestmark = pytest.mark.integration


def _health(base: str) -> dict:
    with urllib.request.urlopen(base + "/healthz", timeout=10) as r:
        return json.loads(r.read())


def _streams(mp4: bytes) -> tuple[int, int, float, float]:
    """(video frames, audio samples, video s, audio s) decoded from one turn's media."""
    with av.open(io.BytesIO(mp4)) as c:
        v = sum(1 for _ in c.decode(video=0))
    with av.open(io.BytesIO(mp4)) as c:
        a = sum(f.samples for f in c.decode(audio=0))
        rate = c.streams.audio[0].rate
    return v, a, v / 25, a / rate


async def test_question_yields_events_and_media_in_order(app_url):
    async with ChatClient(app_url) as c:
        assert c.hello["protocol"] == 1 and len(c.hello["session_id"]) >= 20
        assert c.hello["llm"]["offline"] is True
        await c.ask("Hello there. How is the weather today?")
        turn = await c.until("turn_end")
    kinds = [e["type"] for e in turn.events]
    assert kinds[0] == "turn_start" and kinds[-1] == "turn_end"
    assert "reply_delta" in kinds
    sentences = turn.of_type("sentence")
    assert [s["seq"] for s in sentences] == list(range(len(sentences))) and len(sentences) >= 2
    starts = [s["start_s"] for s in sentences]
    assert starts == sorted(starts) and starts[0] == 0
    media = turn.media
    assert media[0].header["kind"] == "init" and media[0].payload[4:8] == b"ftyp"
    assert [m.header["seq"] for m in media] == list(range(len(media)))
    assert {m.header["turn_id"] for m in media} == {turn.events[0]["turn_id"]}
    # the first sentence's media arrives before the last sentence event: pipelined delivery
    items = turn.items
    first_fragment = next(i for i, r in enumerate(items) if r.is_media and r.header["seq"] == 1)
    last_sentence = max(i for i, r in enumerate(items) if r.event and r.event["type"] == "sentence")
    assert first_fragment < last_sentence
    end = turn.of_type("turn_end")[0]
    reply = "".join(e["text"] for e in turn.of_type("reply_delta"))
    assert end["text"] == reply and "You said: Hello there." in reply
    v, _, vs, as_ = _streams(turn.mp4())
    assert v == round(end["media_s"] * 25)
    assert abs(vs - as_) <= 0.04
    assert end["timings"]["first_media"] > 0
    assert end["timings"]["stalled"] >= 0  # the server's estimate of the client's waits


async def test_a_sprite_session_draws_its_frames_in_its_own_process(app_url):
    """The session asks the Avatar replica how the sprite is drawn and draws it itself; its
    turns play as before."""
    async with ChatClient(app_url) as c:
        for question in ("Hello there.", "And again, please."):
            await c.ask(question)
            turn = await c.until("turn_end")
            v, _, vs, as_ = _streams(turn.mp4())
            assert v == round(turn.of_type("turn_end")[0]["media_s"] * 25) and v > 0
            assert abs(vs - as_) <= 0.04
        handle = await session_of(c.hello["session_id"])
        recipes = await handle.host.sprites.remote()
    size = c.hello["avatar"]["width"]
    assert {"size": size, "palette": "default"}.items() <= recipes[0].items(), recipes


async def test_two_sessions_get_only_their_own_replies(app_url):
    async with ChatClient(app_url) as a, ChatClient(app_url) as b:
        assert a.hello["session_id"] != b.hello["session_id"]
        await a.ask("Apples are red.")
        await b.ask("Bananas are yellow and long.")
        ta, tb = await asyncio.gather(a.until("turn_end"), b.until("turn_end"))
    text_a = "".join(e["text"] for e in ta.of_type("reply_delta"))
    text_b = "".join(e["text"] for e in tb.of_type("reply_delta"))
    assert "Apples" in text_a and "Bananas" not in text_a
    assert "Bananas" in text_b and "Apples" not in text_b
    assert _streams(ta.mp4())[0] != _streams(tb.mp4())[0]  # different lengths of speech


async def test_interrupt_stops_media_quickly_and_next_turn_works(app_url):
    long_text = " ".join(f"This is sentence number {i} of a long answer." for i in range(12))
    async with ChatClient(app_url) as c:
        await c.ask(long_text)
        turn = await c.until("sentence")
        while not any(r.is_media and r.header["kind"] == "fragment" for r in turn.items):
            turn.items.append(await c.recv())
        turn_id = turn.events[0]["turn_id"]
        t0 = time.perf_counter()
        await c.send({"type": "interrupt"})
        after = await c.drain(quiet_s=1.0)
        events = [r.event for r in after if r.event]
        assert {"type": "interrupted", "turn_id": turn_id} == {
            k: v
            for k, v in events[[e["type"] for e in events].index("interrupted")].items()
            if k in ("type", "turn_id")
        }
        idx = next(i for i, r in enumerate(after) if r.event and r.event["type"] == "interrupted")
        assert not any(r.is_media for r in after[idx:]), "media after 'interrupted'"
        assert not any(e["type"] == "turn_end" for e in events)
        media_after = [r.at for r in after if r.is_media]
        last_media_s = (max(media_after) - t0) if media_after else 0.0
        print(f"interrupt -> last media: {last_media_s * 1000:.0f} ms")
        assert last_media_s < 0.2
        await c.ask("Are you still there?")
        nxt = await c.until("turn_end")
        assert "still there" in nxt.of_type("turn_end")[0]["text"]


async def test_reconnect_within_grace_keeps_history(app_url):
    async with ChatClient(app_url) as c:
        sid = c.hello["session_id"]
        await c.ask("Remember the word pineapple.")
        await c.until("turn_end")
    async with ChatClient(app_url, session_id=sid) as c2:
        assert c2.hello["resumed"] is True and c2.hello["session_id"] == sid
        history = c2.hello["history"]
        assert history[0] == {"role": "user", "content": "Remember the word pineapple."}
        assert "pineapple" in history[1]["content"]
        await c2.ask("Second question.")
        await c2.until("turn_end")


async def test_unknown_session_id_starts_a_new_session(app_url):
    async with ChatClient(app_url, session_id="no-such-session") as c:
        assert c.pre_hello[0]["code"] == "session_expired"
        assert c.hello["resumed"] is False and c.hello["session_id"] != "no-such-session"
