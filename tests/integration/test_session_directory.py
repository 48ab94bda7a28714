"""The session directory with real session hosts on real Ray: it finds a session's host, and
releases the slots of sessions whose host is gone or forgot them (no Serve app needed)."""

from __future__ import annotations

import asyncio

import pytest
import ray

from actors.session.store import NAMESPACE
from config import Settings
from serve_app.directory import SessionDirectory
from serve_app.session_hosts import SessionHosts, find_host, find_session, host_name
from tests.serve_fixtures import serve_instance

pytestmark = pytest.mark.integration
SETTINGS = Settings.load({"server": {"session_num_cpus": 0.01, "sessions_per_host": 2}}, env={})


async def _gone(host_key: str, timeout_s: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while await asyncio.to_thread(find_host, host_key) is not None:
        assert loop.time() < deadline, f"{host_name(host_key)} is still there"
        await asyncio.sleep(0.2)


def test_slots_follow_their_hosts():
    async def scenario() -> None:
        directory = SessionDirectory.options(namespace=NAMESPACE).remote(10, 10, 1000)
        hosts = SessionHosts(SETTINGS, app_name="directory-test")
        a = await hosts.open("a")
        b = await hosts.open("b")
        c = await hosts.open("c")  # the first host holds two: a second one is started
        assert a.host_key == b.host_key != c.host_key and hosts.count == 2
        for session in (a, b, c):
            assert (
                await directory.admit.remote(session.session_id, "x", session.host_key)
            ).admitted
        assert (await directory.admit.remote("unplaced", "x")).admitted  # placed later
        assert await directory.host_of.remote("c") == c.host_key
        found = await find_session(directory, "b")
        assert found.host_key == b.host_key and await found.state.remote() == "new"

        assert await directory.reconcile.remote() == 0  # every host knows its sessions
        await b.end.remote("gone")  # a session that ends without releasing its slot
        assert await directory.reconcile.remote() == 1
        assert await directory.host_of.remote("b") is None
        assert await directory.count.remote() == 3
        assert await a.state.remote() == "new"  # the host keeps its other session

        ray.kill(c.host, no_restart=True)  # a host that dies for good
        await _gone(c.host_key)
        assert await directory.reconcile.remote() == 1
        assert await directory.count.remote() == 2  # a, and the one not placed yet

        assert await directory.end_all.remote() == 2  # the app is deleted: its hosts too
        await _gone(a.host_key)
        assert await directory.count.remote() == 0

    with serve_instance():
        asyncio.run(scenario())
