"""Admission rules: churn and hogging cannot lock new users out (serve_app/admission.py)."""

from __future__ import annotations

import pytest

from serve_app.admission import Admission
from tests.fakes.clock import FakeClock

pytestmark = pytest.mark.unit


def book(capacity=4, per_client=2, connects=5):
    clock = FakeClock()
    return Admission(
        capacity=capacity, per_client=per_client, connects_per_minute=connects, clock=clock
    ), clock


def test_a_full_server_of_attached_sessions_refuses_and_evicts_nobody():
    adm, _ = book(capacity=2, per_client=2)
    assert adm.admit("a", "x").admitted and adm.admit("b", "y").admitted
    refused = adm.admit("c", "z")
    assert not refused.admitted and refused.code == "capacity" and refused.evict == ()
    assert sorted(adm.sessions()) == ["a", "b"]


def test_at_capacity_the_longest_detached_session_makes_room():
    adm, clock = book(capacity=3, per_client=3)
    for sid in "abc":
        adm.admit(sid, sid)
    adm.detached("b")
    clock.now += 5
    adm.detached("a")
    decision = adm.admit("d", "d")
    assert decision.admitted and decision.evict == ("b",)
    assert sorted(adm.sessions()) == ["a", "c", "d"]


def test_churned_sockets_never_lock_out_a_new_user():
    adm, clock = book(capacity=16, per_client=16, connects=100)
    for i in range(30):  # 30 opens: 16 admitted, 14 refused, then all close
        adm.admit(f"s{i}", f"c{i}")
    for sid in adm.sessions():
        clock.now += 0.01
        adm.detached(sid)
    decision = adm.admit("new", "newcomer")
    assert decision.admitted and len(decision.evict) == 1
    assert adm.count() == 16


def test_one_client_cannot_hold_more_than_its_share():
    adm, _ = book(capacity=8, per_client=2)
    assert adm.admit("a1", "greedy").admitted and adm.admit("a2", "greedy").admitted
    refused = adm.admit("a3", "greedy")
    assert not refused.admitted and "2 sessions" in refused.reason
    assert adm.admit("b1", "other").admitted  # others are not affected


def test_at_its_share_a_clients_own_detached_session_makes_room():
    adm, clock = book(capacity=8, per_client=2)
    adm.admit("a1", "me")
    adm.admit("a2", "me")
    adm.admit("o1", "other")
    adm.detached("o1")
    clock.now += 1
    adm.detached("a2")
    decision = adm.admit("a3", "me")
    assert decision.admitted and decision.evict == ("a2",)  # not the other client's


def test_a_resume_reattaches_and_keeps_its_slot():
    adm, _ = book(capacity=1, per_client=1)
    adm.admit("a", "x")
    assert adm.has_socket("a")
    adm.detached("a")
    assert not adm.has_socket("a")
    assert adm.attached("a") and adm.has_socket("a")
    assert not adm.admit("b", "y").admitted  # attached again: not evictable
    adm.release("a")
    assert not adm.attached("a") and not adm.has_socket("a")


def test_connections_per_minute_per_client_with_a_sliding_window():
    adm, clock = book(connects=3)
    assert all(adm.connect("x").admitted for _ in range(3))
    refused = adm.connect("x")
    assert not refused.admitted and refused.code == "too_many_connections"
    assert adm.connect("y").admitted
    clock.now += 60.5
    assert adm.connect("x").admitted


def test_release_is_idempotent_and_limits_are_validated():
    adm, _ = book()
    adm.release("nobody")
    adm.detached("nobody")
    with pytest.raises(ValueError, match="capacity"):
        Admission(capacity=0, per_client=1, connects_per_minute=1)
