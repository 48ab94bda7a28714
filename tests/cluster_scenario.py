"""Two Ray nodes on this machine, the app placed across them, and the worker lost mid-turn.

Run as its own process (``python -m tests.cluster_scenario OUT.json``): it starts its own
cluster (``ray.cluster_utils.Cluster``: a head and a worker node, each a raylet of its own
with its own CPUs and a custom resource), which a process already connected to another Ray
could not. The head carries ``head`` (the Ingress, the session actors, the directory and the
store ask for it), the worker ``models`` (TTS and Avatar ask for it), so which node runs what
is decided by resources, as on a real cluster. Used by tests/integration/test_cluster.py
(which asserts on the JSON) and bench/node_loss.py (which records the recovery time).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time

from tests.serve_fixtures import free_port, healthz, patient_proxies

HEAD = {"head": 100}
WORKER = {"models": 100}
APP = "avatar-chat"
LONG_QUESTION = " ".join(f"Sentence number {i} is here to make a long reply." for i in range(12))


def app_config(port: int) -> dict:
    """serve_config.yaml's shape: the app by import path, settings as args, placement per
    deployment in ray_actor_options, as ``serve deploy`` would send it."""
    args = {
        "tts": {"engine": "espeak"},
        "avatar": {"size": 256},
        "vad": {"enabled": False},
        "server": {
            "session_num_cpus": 0.01,
            "session_resources": {"head": 0.01},
            "session_start_timeout_s": 120,
            "resume_grace_s": 60,
            "max_connects_per_minute": 10000,
        },
    }
    on = {"head": {"num_cpus": 0.1, "resources": {"head": 0.01}}}
    for name in ("TTS", "Avatar"):
        on[name] = {"num_cpus": 0.25, "resources": {"models": 0.01}}
    deployments = [{"name": n, "ray_actor_options": o} for n, o in on.items() if n != "head"]
    deployments.append({"name": "Ingress", "ray_actor_options": on["head"]})
    return {
        "proxy_location": "HeadOnly",  # one HTTP port per machine: the head's proxy only
        "http_options": {"host": "127.0.0.1", "port": port},
        "applications": [
            {
                "name": APP,
                "route_prefix": "/",
                "import_path": "serve_app.app:build_app",
                "args": args,
                "deployments": deployments,
            }
        ],
    }


_STARTED = time.monotonic()


def step(what: str) -> None:
    """One line per stage on stderr: a failed run shows how far it got, and when."""
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {what}", file=sys.stderr, flush=True)


async def wait_health(base: str, want: int, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        status, body = await asyncio.to_thread(healthz, base)
        if status == want:
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"/healthz did not answer {want} in {timeout_s} s: {status} {body}")
        await asyncio.sleep(0.5)


def placements(client, head_id: str) -> dict[str, list[str]]:
    """Deployment (and SessionHost) -> 'head' / 'worker' for each live replica (actor)."""
    from ray._private import state
    from ray.serve.schema import ServeInstanceDetails

    where = {}
    details = ServeInstanceDetails(**client.get_serve_details())
    for name, dep in details.applications[APP].deployments.items():
        where[name] = sorted("head" if r.node_id == head_id else "worker" for r in dep.replicas)
    sessions = [
        a for a in state.actors().values()
        if a.get("ActorClassName") == "SessionHost" and a.get("State") == "ALIVE"
    ]  # fmt: skip
    where["SessionHost"] = sorted(
        "head" if a["Address"]["NodeID"] == head_id else "worker" for a in sessions
    )
    return where


async def run(port: int) -> dict:
    import ray
    from ray import serve
    from ray.cluster_utils import Cluster
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeDeploySchema

    from tests.ws_client import ChatClient

    out: dict = {}
    patient_proxies()  # before the nodes start: their processes inherit it
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 2, "resources": HEAD, "include_dashboard": False},
    )
    try:
        out["address"] = cluster.address
        worker = cluster.add_node(num_cpus=2, resources=WORKER)
        ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
        head_id = ray.get_runtime_context().get_node_id()
        config = app_config(port)
        serve.start(proxy_location="HeadOnly", http_options=config["http_options"])
        client = _get_global_client()
        client.deploy_apps(ServeDeploySchema.model_validate(config))
        base = f"http://127.0.0.1:{port}"
        step("app deployed; waiting for /healthz 200")
        await wait_health(base, 200, 240)

        async with ChatClient(base) as c:
            step("healthy; first turn")
            await c.ask("Hello from the head node.")
            first = await c.until("turn_end", timeout=120)
            out["first_turn_media"] = len(first.media)
            out["placement"] = placements(client, head_id)

            # The worker goes away mid-reply: its TTS and Avatar replicas with it.
            step("long turn, until its first sentence")
            await c.ask(LONG_QUESTION)
            await c.until("sentence", timeout=120)
            killed_at = time.monotonic()
            step("killing the worker")
            cluster.remove_node(worker, allow_graceful=False)
            # The client is told (an error for the turn), then the turn ends: no hang.
            lost = await c.until("turn_end", timeout=240)
            out["lost_turn_errors"] = [e["code"] for e in lost.of_type("error")]
            out["lost_turn_end_s"] = round(time.monotonic() - killed_at, 1)
            step("lost turn ended; ping")
            await c.send({"type": "ping"})
            out["pong_after_loss"] = (await c.until("pong", timeout=60)).events[-1]["type"]
            step("waiting for /healthz 503")
            down = await wait_health(base, 503, 120)
            out["healthz_down"] = down.get("deployments", {})

            rejoined_at = time.monotonic()
            step("a new worker joins; waiting for /healthz 200")
            cluster.add_node(num_cpus=2, resources=WORKER)
            await wait_health(base, 200, 300)
            out["recovery_s"] = round(time.monotonic() - rejoined_at, 1)
            out["outage_s"] = round(time.monotonic() - killed_at, 1)

            step("recovered; last turn")
            await c.ask("Are you back?")
            after = await c.until("turn_end", timeout=180)
            out["after_turn_same_id"] = (
                after.of_type("turn_start")[0]["turn_id"] == after.events[-1]["turn_id"]
            )
            out["after_turn_media"] = len(after.media)
            out["after_turn_errors"] = [e for e in after.events if e["type"] == "error"]
            out["placement_after"] = placements(client, head_id)
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()
            cluster.shutdown()
            forget_address(cluster.address)
    return out


def forget_address(address: str) -> None:
    """Remove Ray's "current cluster" file if it still names this cluster.

    ``Cluster`` writes its head's address there and never removes it; until ``ray stop``, any
    ``ray.init()`` on this machine without an address would then join the dead cluster (and
    refuse ``num_cpus``), as every later Ray test of a suite run did.
    """
    from ray._common.utils import get_ray_address_file
    from ray._private.utils import read_ray_address

    if read_ray_address() == address:
        with contextlib.suppress(FileNotFoundError):
            os.remove(get_ray_address_file(None))


def main(argv: list[str]) -> int:
    result = asyncio.run(run(free_port()))
    text = json.dumps(result, indent=2)
    if len(argv) > 1:
        with open(argv[1], "w") as fh:
            fh.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
