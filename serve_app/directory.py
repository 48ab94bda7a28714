"""Admission shared by every ingress replica of an application: one small named actor.

The rules are :class:`serve_app.admission.Admission`'s; this actor keeps them in one place
for all replicas and reconciles its slots with the session actors that are alive, so a
session whose actor died (and was not restarted) never holds a slot for good.
"""

from __future__ import annotations

import asyncio
import logging

import ray

from actors.session.store import NAMESPACE
from serve_app.admission import Admission, Decision

RECONCILE_S = 5.0
log = logging.getLogger("avatar_chat.directory")


def directory_name(app_name: str) -> str:
    return f"avatar-chat-directory-{app_name}"


@ray.remote(num_cpus=0)
class SessionDirectory:
    """Session slots of one application (see :mod:`serve_app.admission`)."""

    def __init__(self, capacity: int, per_client: int, connects_per_minute: int) -> None:
        self._book = Admission(
            capacity=capacity, per_client=per_client, connects_per_minute=connects_per_minute
        )
        self._reconciler: asyncio.Task | None = None

    async def configure(self, capacity: int, per_client: int, connects_per_minute: int) -> None:
        """A redeployed application may change its limits; slots are kept."""
        book = self._book
        book.capacity, book.per_client = capacity, per_client
        book.connects_per_minute = connects_per_minute
        if self._reconciler is None:
            self._reconciler = asyncio.create_task(self._reconcile_forever())

    async def connect(self, client: str) -> Decision:
        return self._book.connect(client)

    async def admit(self, session_id: str, client: str) -> Decision:
        return self._book.admit(session_id, client)

    async def attached(self, session_id: str) -> bool:
        return self._book.attached(session_id)

    async def detached(self, session_id: str) -> None:
        self._book.detached(session_id)

    async def release(self, session_id: str) -> None:
        self._book.release(session_id)

    async def count(self) -> int:
        return self._book.count()

    async def end_all(self) -> int:
        """The application is being deleted: kill every session actor that holds a slot
        (no restart) and release the slots; returns how many."""
        from serve_app.session_pool import end_session_actor, find_session_actor

        sessions = list(self._book.sessions())
        for sid in sessions:
            actor = await asyncio.to_thread(find_session_actor, sid)
            if actor is not None:
                end_session_actor(actor)
            self._book.release(sid)
        return len(sessions)

    async def reconcile(self) -> int:
        """Drop the slots of sessions whose actor no longer exists; returns how many."""
        from serve_app.session_pool import find_session_actor

        def exists(session_id: str) -> bool:
            return find_session_actor(session_id) is not None

        gone = [sid for sid in self._book.sessions() if not await asyncio.to_thread(exists, sid)]
        for sid in gone:
            log.warning("session=%s has no actor any more: slot released", sid)
            self._book.release(sid)
        return len(gone)

    async def _reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(RECONCILE_S)
            try:
                await self.reconcile()
            except Exception:  # the GCS may be briefly unavailable; try again next round
                log.warning("reconciling session slots failed", exc_info=True)


async def get_directory(app_name: str, settings):
    """The application's directory actor, created on first use (detached: any replica finds
    it) and given the application's current limits."""
    srv = settings.server
    limits = (srv.max_sessions, srv.max_sessions_per_client, srv.max_connects_per_minute)
    handle = SessionDirectory.options(
        name=directory_name(app_name),
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        resources=dict(srv.session_resources),  # beside the sessions, off nodes that come and go
    ).remote(*limits)
    await handle.configure.remote(*limits)
    return handle
