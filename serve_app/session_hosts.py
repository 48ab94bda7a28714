"""Where sessions live: the SessionHost actors an ingress replica starts, and how to find one.

Each ingress replica places new sessions on the hosts it started, filling one before the
next (fewer processes), and starts a host when all are full. A host is a detached named
actor (``avatar-session-host-<random>@<application>``), so it outlives the replica and any
replica finds it;
which host holds a session is kept by the application's directory (serve_app/directory.py),
which every connection asks at admission anyway. A redeployed application's replicas start
hosts of their own, so new sessions run the new code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

import ray

from actors.session.host import SessionHandle, SessionHost
from actors.session.store import NAMESPACE
from config import Settings

log = logging.getLogger("avatar_chat.ingress")
ACTOR_GONE = (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError)


HOST_PREFIX = "avatar-session-host-"


def host_name(host_key: str) -> str:
    return f"{HOST_PREFIX}{host_key}"


def new_host_key(app_name: str) -> str:
    return f"{secrets.token_hex(6)}@{app_name}"


def application_hosts(app_name: str) -> list[str]:
    """The keys of every session host of the application ``app_name`` (blocking)."""
    keys = (
        a["name"][len(HOST_PREFIX) :]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["namespace"] == NAMESPACE and a["name"].startswith(HOST_PREFIX)
    )
    return [key for key in keys if key.partition("@")[2] == app_name]


def new_session_id() -> str:
    return secrets.token_urlsafe(18)


def find_host(host_key: str):
    """The live (or restarting) SessionHost named by ``host_key``, or None."""
    try:
        return ray.get_actor(host_name(host_key), namespace=NAMESPACE)
    except ValueError:
        return None


async def find_session(directory, session_id: str) -> SessionHandle | None:
    """The session's handle, if the directory knows its host and that host exists (the
    session itself may have ended: ask its ``state``)."""
    host_key = await directory.host_of.remote(session_id)
    if host_key is None:
        return None
    host = await asyncio.to_thread(find_host, host_key)
    return None if host is None else SessionHandle(host, session_id, host_key)


def end_session(session: SessionHandle | None, reason: str = "not used") -> None:
    """Ends a session no connection will use (surplus, or not started in time)."""
    if session is not None:
        with contextlib.suppress(Exception):  # its host may be gone already
            session.end.remote(reason)


def create_host(host_key: str, settings: Settings):
    """A SessionHost for ``server.sessions_per_host`` sessions, reserving each one's share
    of CPU and memory; detached, so it outlives its ingress.

    Ray restarts it if its process dies (``server.session_max_restarts``), but never re-runs
    a call that was under way: a half-done turn is not repeated behind the client's back.
    """
    srv = settings.server
    slots = srv.sessions_per_host
    options = {
        "name": host_name(host_key),
        "namespace": NAMESPACE,
        "lifetime": "detached",
        "num_cpus": srv.session_num_cpus * slots,
        "max_restarts": srv.session_max_restarts,
        "max_task_retries": 0,
    }
    if srv.session_memory_mb:
        options["memory"] = srv.session_memory_mb * slots * 1024 * 1024
    if srv.session_resources:
        options["resources"] = dict(srv.session_resources)
    return SessionHost.options(**options).remote(slots)


class SessionHosts:
    """The hosts this ingress replica (of application ``app_name``) started, in the order
    it fills them."""

    def __init__(self, settings: Settings, *, app_name: str) -> None:
        self._settings, self._app_name = settings, app_name
        self._hosts: dict[str, object] = {}  # host key -> SessionHost handle
        self._placing = asyncio.Lock()  # one placement at a time: a burst fills a new host

    @property
    def count(self) -> int:
        return len(self._hosts)

    async def open(self, session_id: str) -> SessionHandle:
        """A new (not yet started) session on a host with room, starting a host if none has
        any. Cancelled (a caller's timeout) while a new host is being placed, that host is
        ended: the cluster had no room for it."""
        async with self._placing:
            for key, host in list(self._hosts.items()):
                try:
                    if await host.open.remote(session_id):
                        return SessionHandle(host, session_id, key)
                except ACTOR_GONE:  # exited (no session left) or died for good
                    pass
                else:
                    continue  # full
                self._hosts.pop(key, None)
            key = new_host_key(self._app_name)
            host = create_host(key, self._settings)
            try:
                opened = await host.open.remote(session_id)
            except BaseException:
                with contextlib.suppress(Exception):
                    ray.kill(host, no_restart=True)
                raise
            if not opened:  # a new host is empty: only a capacity of 0 could refuse
                raise RuntimeError("a new session host refused its first session")
            self._hosts[key] = host
            log.info("started session host %s (%d hosts)", key, len(self._hosts))
            return SessionHandle(host, session_id, key)


__all__ = [
    "SessionHosts",
    "application_hosts",
    "create_host",
    "end_session",
    "find_host",
    "find_session",
    "host_name",
    "new_host_key",
    "new_session_id",
]
