"""Start real local Ray and Serve with the avatar-chat app, for integration and browser tests."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

DEFAULT_ARGS = {
    "tts": {"engine": "espeak"},
    "avatar": {"size": 256},
    # Sessions start slowly on a busy 2-core machine: no 'capacity' refusal for that here.
    "server": {
        "resume_grace_s": 3,
        "session_num_cpus": 0.01,
        "max_sessions": 6,
        "session_start_timeout_s": 180,
        # A stage slowed by a loaded machine is not a lost deployment: no skipped sentence or
        # cut reply for that here. The timeouts have their own tests (test_stage_timeouts.py).
        "stage_timeout_s": 300,
        # Every test client is 127.0.0.1: per-client limits are tested on their own app.
        "max_sessions_per_client": 6,
        "max_connects_per_minute": 100000,
        # One warm actor, whatever bursts the tests make: each is ~100 MB on a small machine,
        # and tests count them. The pool's growth has its own tests (test_warm_demand.py).
        "warm_sessions_max": 1,
        "test_view": True,  # the browser tests read the page's window.avatarChat
    },
    # Voice tests need meaningful transcripts: a scripted ASR (tests/fakes/fake_asr.py), which
    # every replica imports (plugins) before it validates the settings.
    "plugins": ["tests.fakes.fake_asr"],
    "asr": {"engine": "scripted", "script": ["What is the weather like?"]},
}


_PROXY_PATIENCE = {
    "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60",
    "RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S": "60",
}


def patient_proxies() -> None:
    """Give Serve's proxies a minute to start and to answer health checks.

    Serve kills a proxy not ready within 5 s (and one whose health check takes over 10 s); a
    2-core machine kept busy by another process misses both, and then every app fails. Set
    before Ray starts: its controller inherits these through the cluster's processes.
    """
    for var, seconds in _PROXY_PATIENCE.items():
        os.environ.setdefault(var, seconds)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_serve_port: int | None = None  # HTTP port of the Serve instance this process started


@contextlib.contextmanager
def serve_instance(*, num_cpus: int = 4) -> Iterator[int]:
    """Ray and Serve for this process; yields Serve's HTTP port.

    Ray can be initialised only once at a time per process: the outermost call starts Ray
    and Serve and shuts both down afterwards; calls made meanwhile (e.g. a test module's own
    apps beside the session-wide ``app_url`` app) share them and stop nothing.
    """
    global _serve_port
    import ray
    from ray import serve

    if ray.is_initialized():
        if _serve_port is None:
            raise RuntimeError("Ray is running but was not started by serve_instance")
        yield _serve_port
        return
    patient_proxies()
    # address="local": always a Ray of this process's own. Without it ray.init joins whatever
    # cluster /tmp/ray/ray_current_cluster names (``ray start``, ray.cluster_utils.Cluster, even
    # one long gone), and refuses num_cpus there.
    ray.init(
        address="local",
        num_cpus=num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        _serve_port = port
        yield port
    finally:
        _serve_port = None
        with contextlib.suppress(Exception):
            serve.shutdown()
        ray.shutdown()


@contextlib.contextmanager
def running_app(
    args: dict | None = None,
    *,
    num_cpus: int = 4,
    name: str = "avatar-chat",
    route_prefix: str = "/",
) -> Iterator[str]:
    """Yield the base URL (``http://127.0.0.1:PORT[/prefix]``) of a running app.

    The app is Serve application ``name`` at ``route_prefix`` on this process's shared Ray
    and Serve (``serve_instance``); it is deleted afterwards, and Ray stopped if this call
    started it. Apps running side by side need distinct names and prefixes.
    """
    from ray import serve

    from serve_app.app import build_app

    with serve_instance(num_cpus=num_cpus) as port:
        if name in serve.status().applications:
            raise ValueError(f"an application named {name!r} is already running: pick another")
        try:
            serve.run(
                build_app(_merge(DEFAULT_ARGS, args or {})), name=name, route_prefix=route_prefix
            )
            base = f"http://127.0.0.1:{port}{route_prefix.rstrip('/')}"
            _wait_healthy(base)
            yield base
        finally:
            with contextlib.suppress(Exception):
                serve.delete(name)


def healthz(base: str, *, timeout_s: float = 10.0) -> tuple[int, dict]:
    """``GET /healthz`` of the app at ``base``: (status, body); 0 and {} if nothing answers."""
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=timeout_s) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:  # 503 with the body; 404 before the app is up
        try:
            return exc.code, json.loads(exc.read())
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError):
        return 0, {}


def _wait_healthy(base: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if healthz(base, timeout_s=5)[0] == 200:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"app at {base} not healthy after {timeout_s} s")
        time.sleep(0.5)


def _merge(a: dict, b: dict) -> dict:
    if "engine" in b and b["engine"] != a.get("engine", b["engine"]):
        return dict(b)  # another engine: the other's settings do not apply to it
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


async def session_of(session_id: str, *, app: str = "avatar-chat"):
    """The session's handle (a SessionHandle: its host and id), found as a resuming
    connection finds it, through the application's directory; None if it has none."""
    import ray

    from actors.session.store import NAMESPACE
    from serve_app.directory import directory_name
    from serve_app.session_hosts import find_session

    directory = ray.get_actor(directory_name(app), namespace=NAMESPACE)
    return await find_session(directory, session_id)
