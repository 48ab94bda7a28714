"""Bad input on the socket gets a clear error event and the session stays usable."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
import websockets

from tests.ws_client import ChatClient

pytestmark = pytest.mark.integration


async def still_usable(c: ChatClient) -> None:
    await c.send({"type": "ping"})
    got = await c.until("pong", timeout=10)
    assert got.events[-1] == {"type": "pong"}


async def next_error(c: ChatClient) -> dict:
    return (await c.until("error", timeout=10)).events[-1]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "bad_json"),
        ("[1, 2, 3]", "bad_message"),
        ('{"text": "no type"}', "bad_message"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "text"}', "bad_text"),
        ('{"type": "text", "text": 42}', "bad_text"),
        ('{"type": "text", "text": "   "}', "empty_text"),
        (json.dumps({"type": "text", "text": "word " * 1000}), "text_too_long"),
        (b"\x01\x02\x03", "bad_audio"),
    ],
)
async def test_bad_message_gets_an_error_and_the_session_stays_usable(app_url, raw, code):
    async with ChatClient(app_url) as c:
        await c.send(raw)
        error = await next_error(c)
        assert error["code"] == code and error["message"]
        await still_usable(c)


async def test_a_bad_message_does_not_lose_the_conversation(app_url):
    async with ChatClient(app_url) as c:
        await c.ask("First.")
        await c.send("{broken")
        turn = await c.until("turn_end")
        assert any(e["type"] == "error" and e["code"] == "bad_json" for e in turn.events)
        await c.ask("Second.")
        await c.until("turn_end")


async def test_oversized_message_closes_with_1009_and_server_stays_healthy(app_url):
    async with ChatClient(app_url) as c:
        await c.send(b"\x00" * (1024 * 1024 + 2))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await c.recv(timeout=10)
        assert closed.value.rcvd.code == 1009
    with urllib.request.urlopen(app_url + "/healthz", timeout=10) as r:
        assert json.loads(r.read())["ok"] is True
    async with ChatClient(app_url) as c:
        await still_usable(c)


async def test_flood_is_rate_limited_then_recovers(app_url):
    async with ChatClient(app_url) as c:
        for _ in range(200):
            await c.send({"type": "ping"})
        got = await c.drain(quiet_s=1.0)
        codes = [r.event.get("code") for r in got if r.event and r.event["type"] == "error"]
        pongs = [r for r in got if r.event and r.event["type"] == "pong"]
        assert "rate_limited" in codes
        assert 0 < len(pongs) < 200
        await asyncio.sleep(1.0)
        await still_usable(c)


async def test_text_during_a_reply_is_queued_then_refused_when_full(app_url):
    async with ChatClient(app_url) as c:
        await c.send({"type": "text", "text": "One. " * 10, "id": "m1"})
        await c.send({"type": "text", "text": "Two.", "id": "m2"})
        await c.send({"type": "text", "text": "Three.", "id": "m3"})
        await c.send({"type": "text", "text": "", "id": "m4"})
        first = await c.until("turn_end")
        assert first.of_type("turn_start")[0]["id"] == "m1"
        errors = {e["id"]: e["code"] for e in first.events if e["type"] == "error"}
        assert errors == {"m3": "busy", "m4": "empty_text"}
        second = await c.until("turn_end")
        start = second.of_type("turn_start")[0]
        assert (start["text"], start["id"]) == ("Two.", "m2")


async def test_capacity_refuses_new_sessions_without_evicting_attached_ones(app_url):
    """Six attached sessions fill the test app; earlier tests' detached sessions make room
    (no waiting for their grace periods), and a seventh is refused."""
    clients = [ChatClient(app_url) for _ in range(6)]
    try:
        for c in clients:  # one by one: each may evict a detached session
            await c.__aenter__()
        url = app_url.replace("http://", "ws://") + "/ws"
        async with websockets.connect(url) as ws:
            error = json.loads(await asyncio.wait_for(ws.recv(), 60))
            assert error["type"] == "error" and error["code"] == "capacity"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 30)
            assert closed.value.rcvd.code == 1013
        with urllib.request.urlopen(app_url + "/healthz", timeout=10) as r:
            health = json.loads(r.read())
        assert health["sessions"] == 6
        assert health["warm_sessions"] <= 1  # a refused warm one isn't extra
        for c in clients:  # nobody was evicted
            await still_usable(c)
    finally:
        await asyncio.gather(*(c.__aexit__(None, None, None) for c in clients))
