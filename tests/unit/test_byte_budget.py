"""ByteBudget: a per-socket token bucket of bytes, driven by a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serve_app.protocol import ByteBudget
from tests.fakes.clock import FakeClock

pytestmark = pytest.mark.unit


def budget(rate: int = 1000) -> tuple[ByteBudget, FakeClock]:
    clock = FakeClock(100.0)
    return ByteBudget(rate=rate, clock=clock), clock


def test_starts_with_one_seconds_burst_then_refuses():
    b, _ = budget()
    assert b.allow(600) and b.allow(400)
    assert not b.allow(1)


def test_refills_at_the_rate():
    b, clock = budget()
    assert b.allow(1000)
    clock.now += 0.25
    assert not b.allow(251)
    assert b.allow(250)
    assert not b.allow(1)


def test_a_refused_message_takes_nothing():
    b, _ = budget()
    assert b.allow(900)
    assert not b.allow(101)
    assert b.allow(100)


def test_burst_never_exceeds_one_seconds_worth():
    b, clock = budget()
    clock.now += 3600
    assert b.allow(1000)
    assert not b.allow(1)


def test_a_message_bigger_than_one_seconds_worth_is_never_allowed():
    b, clock = budget()
    for _ in range(3):
        clock.now += 10
        assert not b.allow(1001)
    assert b.allow(1000)  # and trying took nothing


def test_empty_messages_are_always_allowed():
    b, _ = budget()
    assert b.allow(1000)
    assert b.allow(0)


@pytest.mark.parametrize("rate", [0, -1])
def test_rate_must_be_positive(rate):
    with pytest.raises(ValueError, match="rate"):
        ByteBudget(rate=rate)


def test_negative_size_is_a_bug():
    b, _ = budget()
    with pytest.raises(ValueError):
        b.allow(-1)


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(
    rate=st.integers(1, 1 << 20),
    steps=st.lists(
        st.tuples(st.floats(0, 2, allow_nan=False), st.integers(0, 1 << 21)), max_size=60
    ),
)
def test_never_more_than_rate_times_elapsed_plus_one_burst(rate, steps):
    b, clock = budget(rate)
    start, allowed = clock.now, 0
    for dt, n in steps:
        clock.now += dt
        if b.allow(n):
            assert n <= rate
            allowed += n
        assert allowed <= rate * (clock.now - start) + rate + 1e-6 * rate
    clock.now += 1.0  # after a full second of quiet, any message up to the rate fits
    assert b.allow(rate)
