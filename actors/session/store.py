"""What a session must not lose when its actor process dies: a store that outlives it.

Chosen: one small detached Ray actor per application holding each session's chat history
(and the session's choices) in memory. It lives beside the session hosts, needs nothing
installed, and a write is one asynchronous actor call of a few KB per finished turn (about a
millisecond of CPU); the session does not wait for it. It is lost with the cluster, which is
also where the sessions live; a store on disk or in Redis would outlive the cluster, at the
cost of one more service to run.
"""

from __future__ import annotations

from typing import Any

import ray

NAMESPACE = "avatar-chat"


def store_name(app_name: str) -> str:
    return f"avatar-chat-store-{app_name}"


@ray.remote(num_cpus=0)
class SessionStore:
    """``session id -> saved state`` (a JSON-like dict), for the sessions that are alive."""

    def __init__(self) -> None:
        self._saved: dict[str, dict[str, Any]] = {}

    def put(self, session_id: str, state: dict[str, Any]) -> None:
        self._saved[session_id] = state

    def get(self, session_id: str) -> dict[str, Any] | None:
        return self._saved.get(session_id)

    def delete(self, session_id: str) -> None:
        self._saved.pop(session_id, None)


def get_store(app_name: str, *, resources: dict[str, float] | None = None):
    """The application's store actor, created on first use (``resources``: custom Ray
    resources it asks for, to place it beside the sessions)."""
    return SessionStore.options(
        name=store_name(app_name),
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        resources=dict(resources or {}),
    ).remote()


__all__ = ["SessionStore", "get_store", "store_name"]
