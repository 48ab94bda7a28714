"""Session actors started ahead: a connection takes one, the pool refills, unused ones expire."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import pytest
import ray

from tests.ws_client import ChatClient

pytestmark = pytest.mark.integration


def warm(base: str) -> int:
    with urllib.request.urlopen(base + "/healthz", timeout=10) as r:
        return json.loads(r.read())["warm_sessions"]


async def wait_warm(base: str, want: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while (held := warm(base)) != want:  # /healthz also tops the pool up
        assert time.monotonic() < deadline, f"the pool never held {want} warm (held {held})"
        await asyncio.sleep(0.5)


async def test_a_connection_takes_a_warm_session_and_the_pool_refills(app_url):
    await wait_warm(app_url, 1)
    async with ChatClient(app_url) as c:
        # The warm actor became this session: it answers like any other.
        await c.ask("Hello there.")
        turn = await c.until("turn_end")
        assert turn.of_type("turn_end")[0]["media_s"] > 0
        await wait_warm(app_url, 1)  # replaced in the background while this one talks
        from serve_app.session_pool import session_actor_name

        ray.get_actor(session_actor_name(c.hello["session_id"]), namespace="avatar-chat")


async def test_a_warm_actor_nobody_takes_ends_itself(app_url):
    from config import Settings
    from serve_app.session_pool import create_session_actor

    actor = create_session_actor("unused-warm-session", Settings.load({}, env={}))
    assert await actor.expire_unless_attached.remote(0.5)
    deadline = time.monotonic() + 30
    with pytest.raises(ray.exceptions.RayActorError):
        while time.monotonic() < deadline:
            await actor.alive.remote()
            await asyncio.sleep(0.25)
