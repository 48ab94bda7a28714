"""Start real local Ray and Serve with the avatar-chat app, for integration and browser tests."""

from __future__ import annotations

import contextlib
import socket
import time
import urllib.request
from collections.abc import Iterator

DEFAULT_ARGS = {
    "tts": {"engine": "espeak"},
    "avatar": {"size": 256},
    "server": {"resume_grace_s": 3, "session_num_cpus": 0.01, "max_sessions": 6},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(args: dict | None = None, *, num_cpus: int = 4) -> Iterator[str]:
    """Yield the base URL (``http://127.0.0.1:PORT``) of a running app; shut all down after."""
    import ray
    from ray import serve

    from serve_app.app import build_app

    port = free_port()
    ray.init(
        num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False
    )
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_app(_merge(DEFAULT_ARGS, args or {})), name="avatar-chat", route_prefix="/")
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base)
        yield base
    finally:
        with contextlib.suppress(Exception):
            serve.shutdown()
        ray.shutdown()


def _wait_healthy(base: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"app at {base} not healthy after {timeout_s} s")
        time.sleep(0.5)


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
