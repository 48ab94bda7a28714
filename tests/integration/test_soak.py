"""A one-minute soak (bench/soak.py): sessions looping over turns, interrupts, queued texts,
bad frames and reconnects on their own app, with nothing unexpected from the server.

Latency and memory figures are printed, not asserted: they depend on the machine (the full
10-minute run is ``python bench/soak.py``).
"""

from __future__ import annotations

import pytest

from bench.soak import soak_app
from bench.soak_report import report
from bench.soak_run import run_soak
from bench.soak_session import ACTIONS

pytestmark = pytest.mark.integration

SESSIONS = 16  # fits 2 shared cores: 109-149 s for the whole test (8 sessions: 109 s)
DURATION_S = 60.0
SEED = 2  # every kind of action is among the first two of sessions 0-7


@pytest.fixture(scope="module")
def soak_url():
    with soak_app(max_sessions=SESSIONS + 4, name="soak", route_prefix="/soak") as base:
        yield base


@pytest.mark.timeout(1200)  # app start, session starts, the minute, final turns, on 2 cores
async def test_a_minute_of_mixed_traffic_leaves_every_session_working(soak_url):
    result = await run_soak(soak_url, sessions=SESSIONS, duration_s=DURATION_S, seed=SEED)
    print(report(result))
    assert result.unexpected == []
    counts = result.counts()
    # The mix really happened, and each bad frame got its error code.
    assert [a for a in ACTIONS if not counts[f"action:{a}"]] == [], counts
    assert counts["reconnects"] and any(k.startswith("error:") for k in counts), counts
    assert [s.index for s in result.sessions if s.turns < 1] == []
    assert [s.index for s in result.sessions if not s.usable] == []
