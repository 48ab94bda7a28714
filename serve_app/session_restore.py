"""Bringing back a session whose host process died and that Ray restarted.

Ray restarts a SessionHost (``server.session_max_restarts``) by running its constructor
again in a new process: it is then empty, and each session it held is ``new`` there for a
while. The connection that noticed the loss starts its session again with ``restore=True``,
and the session reads its history from the session store (actors/session/store.py).
"""

from __future__ import annotations

import asyncio
import logging

from serve_app.session_hosts import ACTOR_GONE

log = logging.getLogger("avatar_chat.ingress")
_POLL_S = 0.2


async def restore_session(actor, args: tuple, kwargs: dict, *, timeout_s: float) -> bool:
    """Wait for ``actor`` to come back and start it with its saved state; False when it is
    gone for good (restarts used up) or did not come back within ``timeout_s`` (a restart is a
    new worker process, as a new host is: ``server.session_start_timeout_s``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        try:
            state = await asyncio.wait_for(actor.state.remote(), max(0.1, deadline - loop.time()))
        except TimeoutError:
            break
        except ACTOR_GONE:
            if await asyncio.to_thread(actor_table_state, actor) == "DEAD":
                log.warning("a session host died for good (its restarts are used up)")
                return False
            await asyncio.sleep(_POLL_S)  # restarting: calls fail until the new process is up
            continue
        if state == "live":  # another connection restored it first
            return True
        if state == "ended":
            return False
        try:
            await actor.start.remote(*args, **kwargs)
            return True
        except RuntimeError:  # started meanwhile by another connection
            return True
        except ACTOR_GONE:
            await asyncio.sleep(_POLL_S)
    log.warning("a restarted session host did not come back within %g s", timeout_s)
    return False


def actor_table_state(actor) -> str:
    """The actor's state in Ray's actor table (``ALIVE``, ``RESTARTING``, ``DEAD``, ...).

    Read from the GCS directly: Ray's state API needs the dashboard, which may be off.
    """
    from ray._private import state

    info = state.actors(actor._actor_id.hex())
    return info.get("State", "DEAD") if info else "DEAD"


def actor_pid(actor) -> int:
    """The process id of the actor's current worker (0 when it has none)."""
    from ray._private import state

    return int((state.actors(actor._actor_id.hex()) or {}).get("Pid", 0))
