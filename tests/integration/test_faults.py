"""Processes killed mid-turn on real Serve: replicas, and a session's host itself; and the
host process of ended sessions exits."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from serve_app.session_restore import actor_pid, actor_table_state
from tests.serve_fixtures import running_app, session_of
from tests.ws_client import ChatClient

pytestmark = pytest.mark.integration
LONG = " ".join(f"Sentence number {i} is here to keep the avatar talking." for i in range(12))


def health(app_url: str) -> dict:
    try:
        with urllib.request.urlopen(app_url + "/healthz", timeout=15) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


async def wait_healthy(app_url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not health(app_url)["ok"]:
        assert time.monotonic() < deadline, f"not healthy again: {health(app_url)}"
        await asyncio.sleep(0.5)


def replica_pids(deployment: str) -> list[int]:
    from ray._private import state

    return [
        int(a["Pid"])
        for a in state.actors().values()
        if a["State"] == "ALIVE" and a["ActorClassName"].endswith(f":avatar-chat:{deployment}")
    ]


async def until_media(c: ChatClient) -> None:
    while not (await c.recv(timeout=60)).is_media:
        pass


async def finish_turn(c: ChatClient, timeout: float = 120.0) -> list[dict]:
    """Events up to the turn's end: ``turn_end``, or an ``internal`` error (which ends it)."""
    events = []
    deadline = time.monotonic() + timeout
    while True:
        item = await c.recv(max(0.1, deadline - time.monotonic()))
        if item.event is None:
            continue
        events.append(item.event)
        if item.event["type"] == "turn_end":
            return events
        if item.event["type"] == "error" and item.event["code"] == "internal":
            return events


@pytest.mark.parametrize(("deployment", "stage_code"), [("TTS", "tts"), ("Avatar", "avatar")])
async def test_a_replica_killed_mid_turn_ends_the_turn_and_the_session_goes_on(
    app_url, deployment, stage_code
):
    await wait_healthy(app_url)
    async with ChatClient(app_url) as c:
        await c.ask(LONG)
        await until_media(c)
        pids = replica_pids(deployment)
        assert pids, f"no {deployment} replica found"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        events = await finish_turn(c)
        assert events[-1]["type"] == "turn_end", events[-1]
        # The turn ends either way; what it lost is said in errors that name the stage.
        codes = {e["code"] for e in events if e["type"] == "error"}
        assert codes <= {f"{stage_code}_error"}, codes
        await wait_healthy(app_url)  # Serve replaced the replica
        assert set(replica_pids(deployment)).isdisjoint(pids)
        await c.ask("Are you back?")
        after = await c.until("turn_end", timeout=120)
        assert after.media and after.of_type("turn_end")[0]["media_s"] > 0


async def test_a_killed_session_host_is_reported_and_its_session_restored_with_history(app_url):
    await wait_healthy(app_url)
    async with ChatClient(app_url) as c:
        await c.ask("Remember the word pineapple.")
        await c.until("turn_end")
        session_id = c.hello["session_id"]
        actor = await session_of(session_id)
        old_pid = actor_pid(actor)
        await c.ask(LONG)
        await until_media(c)
        os.kill(old_pid, signal.SIGKILL)
        killed_at = time.perf_counter()
        lost = await c.until("error", timeout=60)
        error = lost.events[-1]
        assert error["code"] == "session_lost" and error["turn_id"] == "t2"
        print(f"session_lost {lost.items[-1].at - killed_at:.2f} s after SIGKILL")
        hello = (await c.until("session", timeout=120)).events[-1]
        assert hello["session_id"] == session_id and hello["resumed"] is True
        said = [m["content"] for m in hello["history"] if m["role"] == "user"]
        assert said[0] == "Remember the word pineapple."
        assert actor_pid(actor) != old_pid and actor_table_state(actor) == "ALIVE"
        await c.ask("What was the word?")
        turn = await c.until("turn_end", timeout=120)
        assert turn.of_type("turn_end")[0]["media_s"] > 0
        assert health(app_url)["sessions"] >= 1


async def test_a_resume_replaces_the_previous_socket(app_url):
    async with ChatClient(app_url) as first:
        session_id = first.hello["session_id"]
        async with ChatClient(app_url, session_id=session_id) as second:
            assert second.hello["resumed"] is True
            replaced = await first.until("error", timeout=30)
            assert replaced.events[-1]["code"] == "replaced"
            with pytest.raises(Exception) as closed:
                while True:
                    await first.recv(timeout=30)
            assert getattr(closed.value, "rcvd", None) is not None
            assert closed.value.rcvd.code == 4001
            # Nothing from the replaced connection (number 1) reaches the session any more.
            actor = await session_of(session_id)
            assert await actor.text.remote(1, "From the old socket.") is False
            assert await actor.interrupt.remote(1) is False
            await second.ask("Still mine?")
            turn = await second.until("turn_end")
            assert turn.of_type("turn_start")[0]["text"] == "Still mine?"
            assert not turn.of_type("interrupted")


def test_sessions_share_a_host_whose_process_exits_after_the_last_one():
    """Two sessions on one host process; the first to end leaves the other talking, and the
    host exits once neither is left (no warm session here to keep it)."""
    args = {"server": {"warm_sessions": 0}}

    async def scenario(base: str) -> None:
        async with ChatClient(base) as first:
            async with ChatClient(base) as second:
                a = await session_of(first.hello["session_id"], app="hosts")
                b = await session_of(second.hello["session_id"], app="hosts")
                assert a.host_key == b.host_key
                pid = actor_pid(a.host)
                assert pid > 0
            # resume_grace_s is 3 s in the test app: then the second session ends.
            await _until(lambda: b.state.remote(), "ended")
            assert _process_exists(pid)
            await first.ask("Still here?")
            turn = await first.until("turn_end")
            assert turn.of_type("turn_end")[0]["media_s"] > 0
        await _until(lambda: a.state.remote(), "ended")
        deadline = time.monotonic() + 60
        while _process_exists(pid):
            assert time.monotonic() < deadline, "the empty host's process is still running"
            await asyncio.sleep(0.25)
        assert actor_table_state(a) == "DEAD"
        # They ended quietly: no asyncio complaints about tasks left behind, no traceback.
        log = _worker_log(pid)
        for noise in ("Task was destroyed", "Task exception was never retrieved", "Traceback"):
            assert noise not in log, log[-2000:]

    with running_app(args, name="hosts", route_prefix="/hosts") as base:
        asyncio.run(scenario(base))


async def _until(call, want: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (got := await call()) != want:
        assert time.monotonic() < deadline, f"still {got!r}, not {want!r}"
        await asyncio.sleep(0.25)


def _worker_log(pid: int) -> str:
    from ray._private import worker

    logs = Path(worker._global_node.get_session_dir_path()) / "logs"
    files = sorted(logs.glob(f"worker-*-{pid}.*"))
    assert files, f"no log files of worker {pid} in {logs}"
    return "".join(f.read_text(errors="replace") for f in files)


def _process_exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
