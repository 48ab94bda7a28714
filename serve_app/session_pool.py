"""Pre-started sessions, so a new connection gets its session at once.

Starting a session means settings, its pipeline and the first calls through Serve handles
(the catalog and voices), on a session host that may itself have to be started first (a
new Ray worker process: about 3 s on 2 cores). Nothing in a session depends on the
connection that takes it, so the pool keeps ``size`` sessions fully started ahead, each with
its own unguessable session id; which also keeps a host running. A warm session ends itself
if no connection attaches within ``ttl_s`` (``Session.expire_unless_attached``), so warm
sessions of a replica that goes away do not linger, and the pool replaces its sessions
before that happens.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from config import Settings
from serve_app.session_hosts import SessionHosts, end_session, new_session_id
from serve_app.warm_demand import BurstDemand

log = logging.getLogger("avatar_chat.ingress")
WARM_TTL_S = 600.0
MAX_PARALLEL_STARTS = 2
_REPLACE_BEFORE_S = 60.0  # handed out only while well inside its TTL


class SessionPool:
    """Started sessions ready for new connections (per ingress replica): at least ``size``,
    more after bursts of connections (``BurstDemand``), at most ``max_size``."""

    def __init__(
        self,
        settings: Settings,
        start,
        *,
        hosts: SessionHosts,
        size: int,
        max_size: int | None = None,
        ttl_s: float = WARM_TTL_S,
        demand: BurstDemand | None = None,
    ) -> None:
        """``start(session)`` is awaited to start each new session (``Session.start``), which
        ``hosts`` places."""
        max_size = size if max_size is None else max_size
        if size < 0 or max_size < size:
            raise ValueError(f"need 0 <= size <= max_size, got size={size}, max_size={max_size}")
        if ttl_s <= _REPLACE_BEFORE_S:
            raise ValueError(f"ttl_s must be over {_REPLACE_BEFORE_S:g} s, got {ttl_s}")
        self._settings, self._start, self._ttl_s = settings, start, ttl_s
        self._hosts = hosts
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
        """``(session id, started session, when it was warmed)``, or None (open one then).
        Every call is a new session arriving: it counts towards the pool's demand."""
        self.demand.arrived()
        self._drop_stale()
        entry = self._ready.popleft() if self._ready else None
        self.fill()
        return entry

    def give_back(self, entry: tuple[str, object, float]) -> None:
        """An entry taken but not used (admission refused): first in line again.

        ``take`` already started its replacement, so the pool may be full again by now: then
        the returned session is surplus and is ended rather than kept past ``size``.
        """
        if len(self._ready) < self.target:
            self._ready.appendleft(entry)
        else:
            end_session(entry[1])

    def fill(self) -> None:
        """Start sessions in the background until ``target`` are ready or starting (at most
        MAX_PARALLEL_STARTS at a time: more would slow the starts of clients already
        waiting); end the ones beyond it, longest warm first."""
        self._drop_stale()
        target = self.target
        while len(self._ready) > target:
            end_session(self._ready.popleft()[1])
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
            async with asyncio.timeout(self._settings.server.session_start_timeout_s):
                actor = await self._hosts.open(session_id)
                await actor.expire_unless_attached.remote(self._ttl_s)
                await self._start(actor)
            started = True
            if len(self._ready) < self.target:
                self._ready.append((session_id, actor, time.monotonic()))
            else:  # filled meanwhile by an entry given back
                end_session(actor)
        except TimeoutError:  # not placed: the cluster is short of resources; retried on fill
            log.warning("a warm session was not started in time; ended it")
            end_session(actor)
        except Exception:
            log.warning("could not pre-start a session", exc_info=True)
            end_session(actor)
        except asyncio.CancelledError:  # the pool is closing
            end_session(actor)
            raise
        finally:
            self._starting -= 1
        if started:  # the next may begin now (a burst's target is above the parallel cap);
            self.fill()  # a failed start is retried on the next fill, not at once

    def close(self) -> int:
        """End every session ready or starting (this ingress is going away); how many."""
        self.size = self.max_size = 0
        ended = len(self._ready) + self._starting
        while self._ready:
            end_session(self._ready.popleft()[1])
        for task in list(self._tasks):
            task.cancel()
        return ended

    def _drop_stale(self) -> None:
        limit = time.monotonic() - (self._ttl_s - _REPLACE_BEFORE_S)
        while self._ready and self._ready[0][2] < limit:
            self._ready.popleft()  # it ends itself at its TTL
