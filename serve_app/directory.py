"""Admission control shared by every ingress replica: one small named actor."""

from __future__ import annotations

import ray

DIRECTORY_NAME = "avatar-chat-directory"
NAMESPACE = "avatar-chat"


@ray.remote(num_cpus=0)
class SessionDirectory:
    """Counts live sessions against the configured capacity; never evicts anyone."""

    def __init__(self) -> None:
        self._live: set[str] = set()

    def admit(self, session_id: str, capacity: int) -> bool:
        if session_id in self._live:
            return True
        if len(self._live) >= capacity:
            return False
        self._live.add(session_id)
        return True

    def release(self, session_id: str) -> None:
        self._live.discard(session_id)

    def count(self) -> int:
        return len(self._live)


def get_directory():
    """The cluster's directory actor, created on first use (detached, so any replica finds it)."""
    return SessionDirectory.options(
        name=DIRECTORY_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
    ).remote()
