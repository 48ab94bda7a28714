"""SessionPool: how many started actors it holds, whatever order takes and give-backs come in."""

from __future__ import annotations

import asyncio

import pytest

from config import Settings
from serve_app import session_pool
from serve_app.session_pool import SessionPool

pytestmark = pytest.mark.unit


async def _started(pool: SessionPool, want: int) -> None:
    for _ in range(100):
        if pool.ready == want:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"pool holds {pool.ready}, wanted {want}")


async def test_fill_starts_size_actors_once_each(actors):
    started = []

    async def start(actor):
        started.append(actor)

    pool = SessionPool(Settings.load({}, env={}), start, hosts=actors.hosts, size=2)
    pool.fill()
    pool.fill()  # already starting: no more
    await _started(pool, 2)
    assert len(actors) == 2 and started == actors
    assert all(a.ttl_s == session_pool.WARM_TTL_S for a in actors)


async def test_an_entry_given_back_after_the_pool_refilled_is_ended_not_kept(actors):
    """Admission refused: take() has already started a replacement before the give-back."""

    async def start(actor):
        pass

    pool = SessionPool(Settings.load({}, env={}), start, hosts=actors.hosts, size=1)
    pool.fill()
    await _started(pool, 1)
    entry = pool.take()
    assert entry is not None and entry[1] is actors[0]
    await _started(pool, 1)  # the replacement is ready first
    pool.give_back(entry)
    assert pool.ready == 1 and actors[0].ended and not actors[1].ended
    assert pool.take()[1] is actors[1]


async def test_a_replacement_finishing_after_a_give_back_is_ended(actors):
    release = asyncio.Event()

    async def start(actor):
        if len(actors) > 1:
            await release.wait()  # the replacement is slow to start

    pool = SessionPool(Settings.load({}, env={}), start, hosts=actors.hosts, size=1)
    pool.fill()
    await _started(pool, 1)
    entry = pool.take()
    pool.give_back(entry)  # back first in line while its replacement still starts
    assert pool.ready == 1 and not actors[0].ended
    release.set()
    for _ in range(100):
        await asyncio.sleep(0)
    assert pool.ready == 1 and actors[1].ended
    assert pool.take()[1] is actors[0]


async def test_a_failed_start_leaves_room_for_the_next_fill(actors):
    failures = [RuntimeError("no resources")]

    async def start(actor):
        if failures:
            raise failures.pop()

    pool = SessionPool(Settings.load({}, env={}), start, hosts=actors.hosts, size=1)
    pool.fill()
    for _ in range(10):
        await asyncio.sleep(0)
    assert pool.ready == 0
    pool.fill()
    await _started(pool, 1)
    assert len(actors) == 2


def test_size_and_ttl_are_checked():
    with pytest.raises(ValueError, match="size"):
        SessionPool(Settings.load({}, env={}), None, hosts=None, size=-1)
    with pytest.raises(ValueError, match="ttl_s"):
        SessionPool(Settings.load({}, env={}), None, hosts=None, size=1, ttl_s=30)


async def test_an_actor_not_started_in_time_is_ended_and_the_next_fill_tries_again(actors):
    hang = asyncio.Event()

    async def start(actor):
        if len(actors) == 1:
            await hang.wait()  # never placed: the cluster is out of CPUs

    settings = Settings.load({"server": {"session_start_timeout_s": 0.05}}, env={})
    pool = SessionPool(settings, start, hosts=actors.hosts, size=1)
    pool.fill()
    for _ in range(50):
        await asyncio.sleep(0.01)
        if actors[0].ended:
            break
    assert actors[0].ended and pool.ready == 0
    pool.fill()
    await _started(pool, 1)
    assert pool.take()[1] is actors[1] and not actors[1].ended
