"""Admission on real Serve: churn, per-client shares, connection rates, idle sockets.

Clients are told apart by X-Forwarded-For, which Serve's proxy (uvicorn) applies to the
socket's peer address for connections from the loopback.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import numpy as np
import pytest
import websockets

from tests.serve_fixtures import running_app
from tests.ws_client import ChatClient

pytestmark = pytest.mark.integration
ARGS = {
    "server": {
        "max_sessions": 4,
        "max_sessions_per_client": 2,
        "max_connects_per_minute": 6,
        "resume_grace_s": 120,  # detached sessions stay, so only eviction frees their slots
        "idle_timeout_s": 6,
        "warm_sessions": 1,
    }
}


@pytest.fixture(scope="module")
def base():
    with running_app(ARGS, name="admission", route_prefix="/admission") as url:
        yield url


def from_(address: str) -> dict:
    return {"X-Forwarded-For": address}


def sessions(base: str) -> int:
    with urllib.request.urlopen(base + "/healthz", timeout=15) as r:
        return json.loads(r.read())["sessions"]


async def first_event(base: str, headers: dict) -> tuple[dict, int | None]:
    """The first event on a new socket and, if the server closed it, the close code."""
    url = base.replace("http://", "ws://") + "/ws"
    async with websockets.connect(url, additional_headers=headers, open_timeout=60) as ws:
        event = json.loads(await asyncio.wait_for(ws.recv(), 120))
        if event["type"] == "session":
            return event, None
        try:
            await asyncio.wait_for(ws.recv(), 30)
        except websockets.ConnectionClosed as closed:
            return event, closed.rcvd.code
        return event, None


async def until_detached(*session_ids: str, timeout_s: float = 60.0) -> None:
    """Wait until the app's directory counts each session as detached (its socket gone)."""
    import ray

    from serve_app.directory import NAMESPACE, directory_name

    directory = ray.get_actor(directory_name("admission"), namespace=NAMESPACE)
    deadline = time.monotonic() + timeout_s
    for sid in session_ids:
        while await directory.has_socket.remote(sid):
            assert time.monotonic() < deadline, f"session {sid} is still attached"
            await asyncio.sleep(0.1)


async def test_thirty_concurrent_opens_then_closes_never_lock_out_a_new_user(base):
    opened = await asyncio.gather(*(first_event(base, from_(f"198.51.100.{i}")) for i in range(30)))
    kinds = [e["type"] if e["type"] == "session" else e["code"] for e, _ in opened]
    assert kinds.count("session") <= 4 and kinds.count("session") >= 1
    assert set(kinds) <= {"session", "capacity"}
    assert all(code == 1013 for e, code in opened if e["type"] == "error")
    # Every opener has closed; their sessions wait (resume grace 120 s) but hold no one out.
    async with ChatClient(base, headers=from_("203.0.113.1")) as newcomer:
        await newcomer.ask("Hello.")
        await newcomer.until("turn_end")
    assert sessions(base) <= 4


async def test_one_client_holds_at_most_its_share(base):
    me = from_("203.0.113.20")
    async with ChatClient(base, headers=me) as one, ChatClient(base, headers=me) as two:
        event, code = await first_event(base, me)
        assert (event["code"], code) == ("capacity", 1013)
        assert "2 sessions" in event["message"]
        async with ChatClient(base, headers=from_("203.0.113.21")) as other:
            assert other.hello["session_id"]
    # Both closed (detached, once the server has seen the sockets go): a third takes the
    # slot of this client's own oldest one.
    await until_detached(one.hello["session_id"], two.hello["session_id"])
    async with ChatClient(base, headers=me) as third:
        assert third.hello["resumed"] is False


async def test_new_connections_per_minute_are_limited_per_client(base):
    me = from_("203.0.113.30")
    async with ChatClient(base, headers=me) as c:
        session_id = c.hello["session_id"]
    for _ in range(5):  # resumes count as connections too; 6 in all so far
        async with ChatClient(base, headers=me, session_id=session_id) as again:
            assert again.hello["resumed"] is True
    event, code = await first_event(base, me)
    assert (event["code"], code) == ("too_many_connections", 1013)
    async with ChatClient(base, headers=from_("203.0.113.31")):
        pass  # another client is not affected


async def test_pings_and_interrupts_are_not_activity_but_audio_is(base):
    async with (
        ChatClient(base, headers=from_("203.0.113.40")) as idle,
        ChatClient(base, headers=from_("203.0.113.41")) as speaker,
    ):
        silence = np.zeros(320, "<i2").tobytes()  # 20 ms at 16 kHz

        async def keep_talking():
            while True:
                await speaker.send(silence)
                await asyncio.sleep(0.02)

        async def only_pings():
            while True:
                await idle.send({"type": "interrupt"})
                await idle.send({"type": "ping"})
                await asyncio.sleep(0.5)

        talker, pinger = asyncio.create_task(keep_talking()), asyncio.create_task(only_pings())
        try:
            ended = await idle.until("error", timeout=60)  # idle_timeout_s is 6
            assert ended.events[-1]["code"] == "session_idle"
            started = time.monotonic()
            await speaker.send({"type": "ping"})
            got = await speaker.drain(quiet_s=1.0)
            codes = [r.event.get("code") for r in got if r.event and r.event["type"] == "error"]
            assert "session_idle" not in codes, time.monotonic() - started
        finally:
            talker.cancel()
            pinger.cancel()
