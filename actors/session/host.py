"""SessionHost: one Ray actor process holding up to ``capacity`` sessions.

A process per user cost ~110 MB (Ray's core worker and ``ray.serve`` are most of it), a
second or more of CPU to start and some CPU every second while idle. A host pays that once
for several sessions: a session is a :class:`~actors.session.session.Session` object on the
host's event loop, and each call names the session it is for. The encoder, TTS decoding and
the VAD run in worker threads, so one busy session does not hold up the others' events.

The host exits when its last session is over (the memory goes back to the node). If its
process dies, Ray restarts it empty; for ``RESTORE_WAIT_S`` after that, a session it does not
know is ``new`` (a connection restores it from the session store), and later ``ended``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import ray

from actors.pipeline.outbox import StreamEnd
from actors.session import sprites as sprite_cache
from actors.session.session import Session

log = logging.getLogger("avatar_chat.session")
RESTORE_WAIT_S = 120.0  # a restarted host that no connection restores in this time exits


@ray.remote
class SessionHost:
    """``session id -> Session`` for up to ``capacity`` sessions; calls are relayed to them."""

    def __init__(self, capacity: int) -> None:
        import cv2

        # Every session's encoder shares the same cores: OpenCV's thread pool on one small
        # frame costs more CPU in hand-offs than it saves.
        cv2.setNumThreads(1)
        self.capacity = capacity
        self._sessions: dict[str, Session] = {}
        self._closing = False
        self._executor_set = False
        self._restarted_at = None
        if ray.get_runtime_context().was_current_actor_reconstructed:
            # Restarted after its process died: connections that noticed restore their
            # sessions (start with restore=True). If none does, do not linger.
            self._restarted_at = time.monotonic()
            timer = threading.Timer(RESTORE_WAIT_S, self._exit_if_unused)
            timer.daemon = True
            timer.start()

    def _exit_if_unused(self) -> None:
        if not self._sessions and not self._closing:
            log.info("restarted session host was not used again; exiting")
            self._closing = True
            _terminate_self()

    async def open(self, session_id: str) -> bool:
        """Take a new session (not started yet); False when full or exiting."""
        if self._closing or len(self._sessions) >= self.capacity:
            return False
        self._use_enough_threads()
        if session_id not in self._sessions:
            self._sessions[session_id] = Session(session_id, on_exit=self._exit_of(session_id))
        return True

    async def load(self) -> tuple[int, int]:
        """``(sessions held, capacity)``."""
        return len(self._sessions), self.capacity

    async def known(self, session_ids: list[str]) -> list[bool]:
        """Which of ``session_ids`` are here, or may still be restored here."""
        return [await self.state(sid) != "ended" for sid in session_ids]

    async def sprites(self) -> list[dict]:
        """The recipes of the sprites this process draws its sessions' frames with."""
        # Through the module: Ray pickles this class, and the cache (with its lock) must not go
        # with it.
        return sprite_cache.SPRITES.recipes

    def _use_enough_threads(self) -> None:
        # asyncio's default pool has min(32, cores + 4) threads: on 2 cores, six encoders
        # at once, and a seventh session's frames would wait for a free thread.
        if not self._executor_set:
            workers = max(8, 2 * self.capacity + 4)
            executor = ThreadPoolExecutor(workers, thread_name_prefix="session")
            asyncio.get_running_loop().set_default_executor(executor)
            self._executor_set = True

    def _exit_of(self, session_id: str):
        def exited() -> None:
            self._sessions.pop(session_id, None)
            if not self._sessions and not self._closing:
                self._closing = True  # no open() may land on a host that is going
                log.info("session host has no session left; exiting")
                _terminate_self()

        return exited

    def _restorable(self) -> bool:
        return (
            self._restarted_at is not None
            and not self._closing
            and time.monotonic() - self._restarted_at < RESTORE_WAIT_S
        )

    # Each call below is the Session method of the same name, for ``session_id``. A session
    # that is not here answers as an ended one would.

    async def state(self, session_id: str) -> str:
        """``new`` (restorable, after a restart), ``live`` or ``ended``."""
        session = self._sessions.get(session_id)
        if session is None:
            return "new" if self._restorable() else "ended"
        return await session.state()

    async def start(self, session_id: str, *args, **kwargs) -> None:
        session = self._sessions.get(session_id)
        if session is None and self._restorable() and kwargs.get("restore"):
            await self.open(session_id)  # its first call since the restart
            session = self._sessions.get(session_id)
        if session is None:
            raise LookupError(f"session {session_id} is not on this host")
        was_started = await session.state() != "new"
        try:
            await session.start(*args, **kwargs)
        except BaseException:
            if not was_started:  # half started: of no use to anybody (not one restored meanwhile)
                session._shutdown()
            raise

    async def expire_unless_attached(self, session_id: str, ttl_s: float) -> bool:
        session = self._sessions.get(session_id)
        return False if session is None else await session.expire_unless_attached(ttl_s)

    async def attach(self, session_id: str, *args, **kwargs):
        session = self._sessions.get(session_id)
        return None if session is None else await session.attach(*args, **kwargs)

    async def events(self, session_id: str, conn: int):
        session = self._sessions.get(session_id)
        if session is None:
            yield [StreamEnd("ended")]
            return
        async for batch in session.events(conn):
            yield batch

    async def configure(self, session_id: str, *args, **kwargs) -> bool:
        session = self._sessions.get(session_id)
        return False if session is None else await session.configure(*args, **kwargs)

    async def audio(self, session_id: str, conn: int, data: bytes) -> bool:
        session = self._sessions.get(session_id)
        return False if session is None else await session.audio(conn, data)

    async def text(self, session_id: str, *args, **kwargs) -> bool:
        session = self._sessions.get(session_id)
        return False if session is None else await session.text(*args, **kwargs)

    async def interrupt(self, session_id: str, conn: int) -> bool:
        session = self._sessions.get(session_id)
        return False if session is None else await session.interrupt(conn)

    async def detach(self, session_id: str, conn: int) -> None:
        if (session := self._sessions.get(session_id)) is not None:
            await session.detach(conn)

    async def error(self, session_id: str, code, message: str) -> None:
        if (session := self._sessions.get(session_id)) is not None:
            await session.error(code, message)

    async def alive(self, session_id: str) -> bool:
        session = self._sessions.get(session_id)
        return session is not None and await session.alive()

    async def generation(self, session_id: str) -> str:
        session = self._sessions.get(session_id)
        return "" if session is None else await session.generation()

    async def retire(self, session_id: str) -> None:
        if (session := self._sessions.get(session_id)) is not None:
            await session.retire()

    async def end(self, session_id: str, reason: str = "closed", **kwargs) -> None:
        if (session := self._sessions.get(session_id)) is not None:
            await session.end(reason, **kwargs)


def _terminate_self() -> None:
    """Exit the host process for good (no restart). ``ray.kill`` of itself, after its
    sessions have released what they held: a graceful exit (``exit_actor``,
    ``__ray_terminate__``) waits for every call in flight, and an abandoned event stream is
    one that never returns, so those processes lingered."""
    ray.kill(ray.get_runtime_context().current_actor, no_restart=True)


class SessionHandle:
    """One session on its host, called like an actor of its own: ``handle.text.remote(...)``
    is the host's ``text`` for this session. ``host`` is the SessionHost actor handle and
    ``host_key`` the key in its name (serve_app/session_hosts.py)."""

    def __init__(self, host, session_id: str, host_key: str) -> None:
        self.host, self.session_id, self.host_key = host, session_id, host_key

    @property
    def _actor_id(self):
        """The host's Ray actor id: what Ray's actor table knows of this session's process."""
        return self.host._actor_id

    def __getattr__(self, method: str):
        if method.startswith("_"):  # pickling and copy probe these; they are not calls
            raise AttributeError(method)
        return _SessionCall(getattr(self.host, method), self.session_id)

    def __repr__(self) -> str:
        return f"SessionHandle({self.session_id!r})"


class _SessionCall:
    def __init__(self, method, session_id: str) -> None:
        self._method, self._session_id = method, session_id

    def remote(self, *args, **kwargs):
        return self._method.remote(self._session_id, *args, **kwargs)


__all__ = ["RESTORE_WAIT_S", "Session", "SessionHandle", "SessionHost"]
