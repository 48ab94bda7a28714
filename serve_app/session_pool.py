"""Pre-started SessionActors, so a new connection gets its session at once.

Starting a SessionActor means a new Ray worker process, importing the pipeline (the OpenAI
client alone takes about a second) and its first calls through Serve handles: about 3 s on 2
cores, during which the page could not talk. Nothing in a session depends on the connection
that takes it, so the pool keeps ``size`` actors fully started ahead, each already named with
its own unguessable session id. A warm actor ends itself if no connection attaches within
``ttl_s`` (``SessionActor.expire_unless_attached``), so warm actors of a replica that goes
away do not linger, and the pool replaces its actors before that happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque

import ray

from actors.session.actor import SessionActor
from actors.session.store import NAMESPACE
from config import Settings
from serve_app.warm_demand import BurstDemand

log = logging.getLogger("avatar_chat.ingress")
WARM_TTL_S = 600.0
MAX_PARALLEL_STARTS = 2
_REPLACE_BEFORE_S = 60.0  # handed out only while well inside its TTL


def session_actor_name(session_id: str) -> str:
    return f"avatar-session-{session_id}"


def find_session_actor(session_id: str):
    """The live (or restarting) SessionActor of ``session_id``, or None if there is none."""
    try:
        return ray.get_actor(session_actor_name(session_id), namespace=NAMESPACE)
    except ValueError:
        return None


def new_session_id() -> str:
    return secrets.token_urlsafe(18)


def create_session_actor(session_id: str, settings: Settings):
    """A SessionActor under the session's name; detached, so it outlives its ingress.

    Ray restarts it if its process dies (``server.session_max_restarts``), but never re-runs
    a call that was under way: a half-done turn is not repeated behind the client's back.
    """
    srv = settings.server
    options = {
        "name": session_actor_name(session_id),
        "namespace": NAMESPACE,
        "lifetime": "detached",
        "num_cpus": srv.session_num_cpus,
        "max_restarts": srv.session_max_restarts,
        "max_task_retries": 0,
    }
    if srv.session_memory_mb:
        options["memory"] = srv.session_memory_mb * 1024 * 1024
    if srv.session_resources:
        options["resources"] = dict(srv.session_resources)
    return SessionActor.options(**options).remote(session_id)


class SessionPool:
    """Started SessionActors ready for new connections (per ingress replica): at least
    ``size``, more after bursts of connections (``BurstDemand``), at most ``max_size``."""

    def __init__(
        self,
        settings: Settings,
        start,
        *,
        size: int,
        max_size: int | None = None,
        ttl_s: float = WARM_TTL_S,
        demand: BurstDemand | None = None,
    ) -> None:
        """``start(actor)`` is awaited to start each new actor (``SessionActor.start``)."""
        max_size = size if max_size is None else max_size
        if size < 0 or max_size < size:
            raise ValueError(f"need 0 <= size <= max_size, got size={size}, max_size={max_size}")
        if ttl_s <= _REPLACE_BEFORE_S:
            raise ValueError(f"ttl_s must be over {_REPLACE_BEFORE_S:g} s, got {ttl_s}")
        self._settings, self._start, self._ttl_s = settings, start, ttl_s
        self.size, self.max_size = size, max_size
        self.demand = demand or BurstDemand()
        self._ready: deque[tuple[str, object, float]] = deque()
        self._starting = 0
        self._tasks: set[asyncio.Task] = set()

    @property
    def ready(self) -> int:
        return len(self._ready)

    @property
    def target(self) -> int:
        """How many to keep ready now: the recent peak burst, within size..max_size."""
        return min(self.max_size, max(self.size, self.demand.peak()))

    def take(self) -> tuple[str, object, float] | None:
        """``(session id, started actor, when it was warmed)``, or None (create one then).
        Every call is a new session arriving: it counts towards the pool's demand."""
        self.demand.arrived()
        self._drop_stale()
        entry = self._ready.popleft() if self._ready else None
        self.fill()
        return entry

    def give_back(self, entry: tuple[str, object, float]) -> None:
        """An entry taken but not used (admission refused): first in line again.

        ``take`` already started its replacement, so the pool may be full again by now: then
        the returned actor is surplus and is ended rather than kept past ``size``.
        """
        if len(self._ready) < self.target:
            self._ready.appendleft(entry)
        else:
            end_session_actor(entry[1])

    def fill(self) -> None:
        """Start actors in the background until ``target`` are ready or starting (at most
        MAX_PARALLEL_STARTS at a time: more would slow the cold starts of clients already
        waiting); end the ones beyond it, longest warm first."""
        self._drop_stale()
        target = self.target
        while len(self._ready) > target:
            end_session_actor(self._ready.popleft()[1])
        while len(self._ready) + self._starting < target and self._starting < MAX_PARALLEL_STARTS:
            self._starting += 1
            task = asyncio.get_running_loop().create_task(self._start_one())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _start_one(self) -> None:
        session_id = new_session_id()
        actor = None
        started = False
        try:
            actor = create_session_actor(session_id, self._settings)
            async with asyncio.timeout(self._settings.server.session_start_timeout_s):
                await actor.expire_unless_attached.remote(self._ttl_s)
                await self._start(actor)
            started = True
            if len(self._ready) < self.target:
                self._ready.append((session_id, actor, time.monotonic()))
            else:  # filled meanwhile by an entry given back
                end_session_actor(actor)
        except TimeoutError:  # not placed: the cluster is short of resources; retried on fill
            log.warning("a warm session actor was not started in time; ended it")
            end_session_actor(actor)
        except Exception:
            log.warning("could not pre-start a session actor", exc_info=True)
            if actor is not None:
                end_session_actor(actor)
        except asyncio.CancelledError:  # the pool is closing
            if actor is not None:
                end_session_actor(actor)
            raise
        finally:
            self._starting -= 1
        if started:  # the next may begin now (a burst's target is above the parallel cap);
            self.fill()  # a failed start is retried on the next fill, not at once

    def close(self) -> int:
        """End every actor ready or starting (this ingress is going away); how many."""
        self.size = self.max_size = 0
        ended = len(self._ready) + self._starting
        while self._ready:
            end_session_actor(self._ready.popleft()[1])
        for task in list(self._tasks):
            task.cancel()
        return ended

    def _drop_stale(self) -> None:
        limit = time.monotonic() - (self._ttl_s - _REPLACE_BEFORE_S)
        while self._ready and self._ready[0][2] < limit:
            self._ready.popleft()  # it ends itself at its TTL


def end_session_actor(actor) -> None:
    """Ends an actor no connection will use (surplus, or never placed in time)."""
    with contextlib.suppress(Exception):  # already gone: nothing to end
        ray.kill(actor, no_restart=True)
