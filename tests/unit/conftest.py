"""Fixtures the unit tests share: session actors that are never started (for SessionPool)."""

from __future__ import annotations

import pytest

from serve_app import session_pool


class _Remote:
    def __init__(self, fn) -> None:
        self.remote = fn


class FakeActor:
    """Stands in for a SessionActor handle: records what was asked of it."""

    def __init__(self, session_id: str) -> None:
        self.session_id, self.ttl_s, self.ended = session_id, None, False

        async def expire(ttl_s: float) -> bool:
            self.ttl_s = ttl_s
            return True

        self.expire_unless_attached = _Remote(expire)


@pytest.fixture
def actors(monkeypatch) -> list[FakeActor]:
    made: list[FakeActor] = []

    def create(session_id, settings):
        made.append(FakeActor(session_id))
        return made[-1]

    def kill(actor, *, no_restart):
        actor.ended = True

    monkeypatch.setattr(session_pool, "create_session_actor", create)
    monkeypatch.setattr("ray.kill", kill)
    return made
