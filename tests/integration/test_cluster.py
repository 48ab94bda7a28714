"""The app on two Ray nodes, placed by custom resources, and the worker node lost mid-turn.

The scenario (tests/cluster_scenario.py) runs in a process of its own: it starts a
two-node cluster, which this process, already connected to the suite's Ray, could not.
"""

from __future__ import annotations

import json
import sys

import pytest
from ray._private.utils import read_ray_address

from tests.process_group import run_to_end

pytestmark = pytest.mark.integration


SCENARIO_LIMIT_S = 900  # about 100 s on a quiet 2-core machine, 220 s beside two CPU burners


@pytest.mark.timeout(SCENARIO_LIMIT_S + 60)
def test_turns_cross_nodes_and_survive_losing_the_worker(tmp_path):
    out = tmp_path / "cluster.json"
    cmd = [sys.executable, "-m", "tests.cluster_scenario", str(out)]
    returncode, output = run_to_end(cmd, limit_s=SCENARIO_LIMIT_S, what="the cluster scenario")
    assert returncode == 0, output[-6000:]
    result = json.loads(out.read_text())

    # Placed by resources: the models' replicas on the worker, sessions and ingress on the
    # head (one session and one warm one); a typed turn crossed the nodes.
    placed = result["placement"]
    assert placed["TTS"] == placed["Avatar"] == ["worker"]
    assert placed["Ingress"] == ["head"] and set(placed["SessionHost"]) == {"head"}
    assert result["first_turn_media"] > 0

    # The worker killed mid-reply: the client is told, the turn ends, the session answers,
    # and /healthz names the deployments that are gone.
    assert result["lost_turn_errors"], "the lost turn should end with an error event"
    assert set(result["lost_turn_errors"]) <= {"avatar_error", "tts_error", "internal"}
    assert result["pong_after_loss"] == "pong"
    assert result["healthz_down"]["tts"] is False and result["healthz_down"]["avatar"] is False

    # A worker rejoins: Serve places the replicas there again and the next turn works.
    assert result["recovery_s"] > 0
    assert result["after_turn_same_id"] and result["after_turn_media"] > 0
    assert result["after_turn_errors"] == []
    assert result["placement_after"]["TTS"] == result["placement_after"]["Avatar"] == ["worker"]

    # Gone without a trace: a later ray.init() on this machine starts its own Ray instead of
    # trying to join the scenario's dead cluster.
    assert read_ray_address() != result["address"]
