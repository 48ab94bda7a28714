"""BurstDemand and the warm pool it sizes: bursts grow the pool, quiet shrinks it back."""

from __future__ import annotations

import asyncio

import pytest

from config import Settings
from serve_app.session_pool import MAX_PARALLEL_STARTS, SessionPool
from serve_app.warm_demand import BurstDemand
from tests.fakes.clock import FakeClock

pytestmark = pytest.mark.unit


def test_peak_is_the_largest_burst_within_the_window():
    clock = FakeClock()
    demand = BurstDemand(burst_s=10, memory_s=300, clock=clock)
    assert demand.peak() == 0
    for _ in range(3):
        demand.arrived()
    clock.now += 30
    for _ in range(5):  # a bigger burst, 2 s apart: still within 10 s of each other
        demand.arrived()
        clock.now += 2
    clock.now += 60
    demand.arrived()  # a lone arrival later does not lower the peak
    assert demand.peak() == 5


def test_arrivals_spread_out_are_no_burst():
    clock = FakeClock()
    demand = BurstDemand(burst_s=10, memory_s=300, clock=clock)
    for _ in range(10):
        demand.arrived()
        clock.now += 11
    assert demand.peak() == 1


def test_a_burst_is_forgotten_after_memory_s():
    clock = FakeClock()
    demand = BurstDemand(burst_s=10, memory_s=300, clock=clock)
    for _ in range(6):
        demand.arrived()
    clock.now += 299
    assert demand.peak() == 6
    clock.now += 2
    assert demand.peak() == 0


def test_bad_windows_are_refused():
    with pytest.raises(ValueError):
        BurstDemand(burst_s=0)
    with pytest.raises(ValueError):
        BurstDemand(burst_s=10, memory_s=5)


async def _settle(pool: SessionPool) -> None:
    for _ in range(500):
        if pool._starting == 0 and pool.ready == pool.target:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"pool did not settle: ready {pool.ready}, target {pool.target}")


async def test_a_burst_grows_the_pool_to_its_size_and_quiet_shrinks_it(actors):
    clock = FakeClock()
    started = []

    async def start(actor):
        started.append(actor)

    pool = SessionPool(
        Settings.load({}, env={}), start, hosts=actors.hosts, size=1, max_size=6,
        demand=BurstDemand(burst_s=10, memory_s=300, clock=clock),
    )  # fmt: skip
    pool.fill()
    await _settle(pool)
    assert pool.ready == 1
    for _ in range(4):  # four clients at once: one warm actor, three cold starts elsewhere
        pool.take()
    assert pool.target == 4
    assert pool._starting <= MAX_PARALLEL_STARTS  # never more starts at once than this
    await _settle(pool)
    assert pool.ready == 4  # the next burst of four finds four ready

    for _ in range(9):  # a burst over the bound: the pool stops at max_size
        pool.take()
    await _settle(pool)
    assert pool.target == pool.ready == 6

    clock.now += 301  # five quiet minutes: back to size, the surplus ended
    pool.fill()
    await _settle(pool)
    assert pool.ready == 1
    assert sum(a.ended for a in actors) == 5  # of the six ready, all but the one kept


def test_pool_bounds_are_checked():
    with pytest.raises(ValueError, match="max_size"):
        SessionPool(Settings.load({}, env={}), None, hosts=None, size=3, max_size=2)
