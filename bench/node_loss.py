"""Losing a worker node mid-turn: how long until the app serves again.

Runs tests/cluster_scenario.py (a head and a worker node on this machine, TTS and Avatar on
the worker by a custom resource) ``--runs`` times, each in a fresh process and cluster, and
writes the figures into docs/benchmarks.md (section ``node_loss``):

- lost turn: from killing the worker mid-reply until that turn's ``turn_end`` (with an error
  naming the stage: a TTS deployment with no replica left is waited on for
  ``server.stage_timeout_s``);
- outage: from killing the worker mid-reply until /healthz answers 200 again (the client
  got an error for that turn meanwhile, and the session kept answering);
- recovery: from the new worker joining until /healthz answers 200 (Serve placing the TTS
  and Avatar replicas again and the replicas starting).

    python -m bench.node_loss [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.report import fmt, machine_line, markdown_table, pct, write_section

ROOT = Path(__file__).resolve().parents[1]


def one_run() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cluster.json"
        subprocess.run(
            [sys.executable, "-m", "tests.cluster_scenario", str(out)],
            cwd=ROOT, check=True, capture_output=True, timeout=900,
        )  # fmt: skip
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    for i, r in enumerate(runs, 1):
        print(f"run {i}: lost turn {r['lost_turn_end_s']} s, outage {r['outage_s']} s, "
              f"recovery {r['recovery_s']} s, "
              f"lost turn errors {r['lost_turn_errors']}")  # fmt: skip
    rows = [
        [name, fmt(pct([r[key] for r in runs], 0.5), 1), fmt(max(r[key] for r in runs), 1)]
        for name, key in (("lost turn (kill → its turn_end)", "lost_turn_end_s"),
                          ("outage (kill → healthy)", "outage_s"),
                          ("recovery (rejoin → healthy)", "recovery_s"))
    ]  # fmt: skip
    body = "\n".join([
        "## Node loss: a worker node killed mid-turn (`bench/node_loss.py`)",
        "",
        machine_line(),
        f"Two Ray nodes on this machine (`ray.cluster_utils.Cluster`, 2 CPUs each); TTS and "
        f"Avatar on the worker by a custom resource; {len(runs)} runs, each a fresh cluster. "
        "The worker is killed after the first sentence of a 12-sentence reply: the client gets "
        f"`{'`, `'.join(sorted({c for r in runs for c in r['lost_turn_errors']}))}` for that "
        "turn and its `turn_end`, pings are answered throughout, `/healthz` reports TTS and "
        "Avatar down (503). The lost turn ends after `server.stage_timeout_s` (15 s): its "
        "later sentences' TTS calls wait for a replica Serve cannot place, and its sprite "
        "frames, drawn in the session, do not fail sooner. The outage includes the scenario's "
        "own waits before a new worker joins (the lost turn, then /healthz saying 503); "
        "recovery is Serve's part.",
        "",
        markdown_table(["seconds", "median", "max"], rows),
    ])  # fmt: skip
    print(write_section("node_loss", body))


if __name__ == "__main__":
    main()
