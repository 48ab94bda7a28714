"""The application's lifecycle on real Ray and Serve: a redeploy closes sockets with 1012 and
the session resumes on the new ingress; deleting the app leaves no session host, directory or
store actor behind."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from tests.serve_fixtures import DEFAULT_ARGS, _merge, healthz, running_app
from tests.ws_client import ChatClient

pytestmark = pytest.mark.integration

APP = "lifecycle"
ARGS = {"server": {"resume_grace_s": 60, "warm_sessions": 1}}
APP_ACTORS = ("SessionHost", "SessionDirectory", "SessionStore")


def alive_app_actors() -> dict[str, int]:
    """Live actors of the classes an application leaves behind, by class name (read from the
    GCS directly: the state API needs the dashboard, which tests leave off)."""
    from ray._private import state

    counts = dict.fromkeys(APP_ACTORS, 0)
    for info in state.actors().values():
        name = info.get("ActorClassName", "")
        if info.get("State") != "DEAD" and name in counts:
            counts[name] += 1
    return counts


async def closing(c: ChatClient, timeout: float = 60.0) -> tuple[list[dict], int]:
    """The events a socket gets until it closes, and the close code."""
    events = []
    try:
        while True:
            item = await c.recv(timeout=timeout)
            if item.event:
                events.append(item.event)
    except websockets.ConnectionClosed as closed:
        return events, closed.rcvd.code if closed.rcvd else 1006


async def wait_for(predicate, timeout_s: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.25)


async def test_redeploy_restarts_sockets_and_delete_ends_every_app_actor():
    from ray import serve

    from serve_app.app import build_app

    with running_app(ARGS, name=APP, route_prefix="/lifecycle") as base:
        async with ChatClient(base) as c:
            session_id = c.hello["session_id"]
            await c.ask("Remember the word teapot.")
            await c.until("turn_end")
            await wait_for(lambda: alive_app_actors()["SessionHost"] >= 1)
            await wait_for(lambda: healthz(base)[1].get("warm_sessions") == 1)  # one to end too

            # A redeploy with changed settings replaces the ingress replica: the socket is
            # told and closed with 1012 ("service restart").
            changed = _merge(DEFAULT_ARGS, {**ARGS, "text": {"max_input_chars": 1999}})
            redeploy = asyncio.to_thread(
                serve.run, build_app(changed), name=APP, route_prefix="/lifecycle"
            )
            (events, code), _ = await asyncio.gather(closing(c), redeploy)
        assert code == 1012
        assert events[-1]["type"] == "server_restarting" and events[-1]["message"]

        # The page reconnects with its session id: the same session, its history kept.
        async with ChatClient(base, session_id=session_id) as again:
            assert again.hello["resumed"] is True
            assert again.hello["max_input_chars"] == 1999  # the new deployment answered
            assert any("teapot" in m["content"] for m in again.hello["history"])
            counts = alive_app_actors()
            assert counts["SessionDirectory"] == counts["SessionStore"] == 1

        await asyncio.to_thread(serve.delete, APP)
        # Deleted: nobody can resume a session, so none is left running (nor a warm one),
        # and neither is the application's directory or store.
        await wait_for(lambda: not any(alive_app_actors().values()), timeout_s=30.0)
