"""Admission shared by every ingress replica of an application: one small named actor.

The rules are :class:`serve_app.admission.Admission`'s; this actor keeps them in one place
for all replicas, with the session host each admitted session lives on (so any replica
finds a session to resume), and reconciles its slots with the hosts: a session whose host
died (and was not restarted) or forgot it never holds a slot for good.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict

import ray

from actors.session.store import NAMESPACE
from serve_app.admission import Admission, Decision

RECONCILE_S = 5.0
PLACE_WAIT_S = 300.0  # an admitted session not placed on a host by then lost its connection
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
        self._hosts: dict[str, str] = {}  # session id -> its host's key
        self._admitted_at: dict[str, float] = {}

    async def configure(self, capacity: int, per_client: int, connects_per_minute: int) -> None:
        """A redeployed application may change its limits; slots are kept."""
        book = self._book
        book.capacity, book.per_client = capacity, per_client
        book.connects_per_minute = connects_per_minute
        if self._reconciler is None:
            self._reconciler = asyncio.create_task(self._reconcile_forever())

    async def connect(self, client: str) -> Decision:
        return self._book.connect(client)

    async def admit(self, session_id: str, client: str, host_key: str | None = None) -> Decision:
        """The book's decision; an admitted session is known to live on ``host_key`` (None:
        not placed yet, see ``placed``)."""
        decision = self._book.admit(session_id, client)
        if decision.admitted:
            self._admitted_at.setdefault(session_id, time.monotonic())
            if host_key is not None:
                self._hosts[session_id] = host_key
        return decision  # evicted sessions forget their host when they end (release)

    async def placed(self, session_id: str, host_key: str) -> None:
        if session_id in self._admitted_at:
            self._hosts[session_id] = host_key

    async def host_of(self, session_id: str) -> str | None:
        """The key of the host an admitted session lives on, or None."""
        return self._hosts.get(session_id)

    async def attached(self, session_id: str) -> bool:
        return self._book.attached(session_id)

    async def has_socket(self, session_id: str) -> bool:
        return self._book.has_socket(session_id)

    async def detached(self, session_id: str) -> None:
        self._book.detached(session_id)

    async def release(self, session_id: str) -> None:
        self._book.release(session_id)
        self._forget(session_id)

    def _forget(self, session_id: str) -> None:
        self._hosts.pop(session_id, None)
        self._admitted_at.pop(session_id, None)

    async def count(self) -> int:
        return self._book.count()

    async def end_all(self) -> int:
        """The application is being deleted: kill every host of a session that holds a slot
        (no restart) and release the slots; returns how many sessions."""
        from serve_app.session_hosts import find_host

        sessions = list(self._book.sessions())
        for key in {self._hosts[sid] for sid in sessions if sid in self._hosts}:
            host = await asyncio.to_thread(find_host, key)
            if host is not None:
                ray.kill(host, no_restart=True)
        for sid in sessions:
            await self.release(sid)
        return len(sessions)

    async def reconcile(self) -> int:
        """Drop the slots of sessions whose host no longer exists or no longer knows them, and
        of admitted sessions never placed; returns how many."""
        from serve_app.session_hosts import find_host

        by_host: dict[str, list[str]] = defaultdict(list)
        gone = []
        now = time.monotonic()
        for sid in self._book.sessions():
            if sid in self._hosts:
                by_host[self._hosts[sid]].append(sid)
            elif now - self._admitted_at.get(sid, now) > PLACE_WAIT_S:
                gone.append(sid)
        for key, sids in by_host.items():
            host = await asyncio.to_thread(find_host, key)
            try:
                known = (
                    [False] * len(sids)
                    if host is None
                    else await asyncio.wait_for(host.known.remote(sids), RECONCILE_S)
                )
            except (ray.exceptions.ActorUnavailableError, TimeoutError):  # ask next round
                continue
            except ray.exceptions.RayActorError:  # dead for good
                known = [False] * len(sids)
            gone += [sid for sid, here in zip(sids, known, strict=True) if not here]
        for sid in gone:
            log.warning("session=%s has no host any more: slot released", sid)
            await self.release(sid)
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
