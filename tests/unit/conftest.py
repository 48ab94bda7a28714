"""Fixtures the unit tests share: sessions that are never started (for SessionPool)."""

from __future__ import annotations

import pytest

from config import Settings
from serve_app.session_hosts import SessionHosts


class _Remote:
    def __init__(self, fn) -> None:
        self.remote = fn


class FakeSession:
    """Stands in for a SessionHandle: records what was asked of it."""

    def __init__(self, session_id: str) -> None:
        self.session_id, self.host_key, self.ttl_s, self.ended = session_id, "fake", None, False

        async def expire(ttl_s: float) -> bool:
            self.ttl_s = ttl_s
            return True

        def end(reason: str = "closed") -> None:
            self.ended = True

        self.expire_unless_attached = _Remote(expire)
        self.end = _Remote(end)


class FakeSessionHosts(SessionHosts):
    """Opens FakeSessions (no Ray actor); ``made`` lists them in order."""

    def __init__(self, made: list[FakeSession]) -> None:
        super().__init__(Settings.load({}, env={}), app_name="unit")
        self.made = made

    async def open(self, session_id: str) -> FakeSession:
        self.made.append(FakeSession(session_id))
        return self.made[-1]


class Sessions(list):
    """The sessions opened so far; ``hosts`` is what a pool under test opens them with."""

    hosts: FakeSessionHosts


@pytest.fixture
def actors() -> Sessions:
    made = Sessions()
    made.hosts = FakeSessionHosts(made)
    return made
