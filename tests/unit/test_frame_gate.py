"""FrameGate: the admission gate in front of LipSync's @serve.batch queue."""

from __future__ import annotations

import asyncio

import pytest

from serve_app.frame_gate import FrameGate

pytestmark = pytest.mark.unit


async def test_gate_lets_one_batch_in_while_idle_and_the_rest_when_the_model_is_free():
    gate = FrameGate(16)
    assert gate.idle
    await gate.admit(8)
    await gate.admit(8)  # 16 frames: one batch's worth, straight in
    assert not gate.idle
    late = [asyncio.create_task(gate.admit(8)) for _ in range(3)]
    await asyncio.sleep(0)
    assert gate.waiting == 3 and not any(t.done() for t in late)
    gate.started(16)  # the batch of 16 runs: nothing more gets in while it does
    await asyncio.sleep(0)
    assert gate.waiting == 3
    gate.finished()  # the next batch: the first two waiting requests, in arrival order
    await asyncio.sleep(0)
    assert [t.done() for t in late] == [True, True, False] and gate.admitted == 16
    gate.started(16)
    gate.finished()
    await asyncio.gather(*late)
    assert gate.waiting == 0 and gate.admitted == 8
    gate.started(8)
    gate.finished()
    assert gate.idle


async def test_gate_skips_cancelled_requests_and_takes_back_cancelled_admissions():
    gate = FrameGate(16)
    gate.started(0)
    first, second, third = (asyncio.create_task(gate.admit(8)) for _ in range(3))
    await asyncio.sleep(0)
    first.cancel()  # barge-in while waiting
    gate.finished()
    third.cancel()  # let in, then cancelled before it ran: its frames are given back
    await asyncio.gather(first, second, third, return_exceptions=True)
    assert first.cancelled() and second.done() and not second.cancelled() and third.cancelled()
    assert gate.admitted == 8 and gate.waiting == 0


async def test_gate_does_not_stall_when_admitted_requests_never_run():
    gate = FrameGate(16)
    await gate.admit(8)
    await gate.admit(8)
    late = asyncio.create_task(gate.admit(8))
    await asyncio.sleep(0)
    assert not late.done()
    gate.give_back(8)  # both queued requests were cancelled before their batch started
    gate.give_back(8)
    await asyncio.wait_for(late, 1.0)
    assert gate.admitted == 8
    gate.give_back(8)
    await asyncio.wait_for(gate.admit(32), 1.0)  # larger than a batch (the limit shrank): alone
