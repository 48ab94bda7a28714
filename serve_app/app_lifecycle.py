"""What an ingress replica does as it stops: its sockets, its warm sessions, and, when the
application itself is going away, the application's session hosts, directory and store.

Session hosts, the directory and the store are detached Ray actors (any ingress replica
finds them, and a session outlives the replica its socket came through), so nothing ends
them with the application: Serve stops replicas, not the actors they created. An ingress
replica stops for three reasons: a scale-down, a redeploy (new replicas take over) or the
application being deleted (``serve delete``, ``serve shutdown``). Only in the last case is
there nobody left to resume a session, so only then are they ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import ray
from ray import serve

from actors.session.store import NAMESPACE, store_name
from serve_app.directory import directory_name
from serve_app.session_hosts import application_hosts, host_name

log = logging.getLogger("avatar_chat.ingress")
RESTART_MESSAGE = "the server is restarting; reconnect to resume this session"


def replica_state(app_name: str, deployment: str, replica_id: str) -> str | None:
    """This replica's state as the controller has it (``RUNNING``, ``STOPPING``, ...), or
    None once it is not listed. Blocking: call it in a thread.

    Why ask: Serve runs a replica's ``__del__`` only after its requests end, and a socket
    is a request that ends when its client leaves; so the replica learns of its own
    shutdown here, in time to close its sockets with 1012 while the client can still be
    told."""
    from ray.serve.context import _get_global_client  # what serve.status() reads through
    from ray.serve.schema import ServeInstanceDetails

    details = ServeInstanceDetails(**_get_global_client().get_serve_details())
    app = details.applications.get(app_name)
    found = app and app.deployments.get(deployment)
    for replica in found.replicas if found else ():
        if replica.replica_id == replica_id:
            return str(replica.state.value)
    return None


def application_status(app_name: str) -> str | None:
    """The application's status as Serve's controller reports it (``RUNNING``, ``DELETING``,
    ...), or None when the controller no longer lists it. Blocking: call it in a thread."""
    app = serve.status().applications.get(app_name)
    return None if app is None else str(app.status)


async def application_is_going_away(app_name: str) -> bool:
    """True while the application is being deleted (or is gone): not for a scale-down or a
    redeploy. An unanswered question keeps the sessions (they end themselves once unused)."""
    try:
        status = await asyncio.wait_for(asyncio.to_thread(application_status, app_name), 5.0)
    except Exception as exc:  # the controller itself may be stopping
        log.warning("could not ask Serve whether %s is being deleted (%s)", app_name, exc)
        return False
    return status is None or status.endswith("DELETING")


async def end_application_actors(app_name: str) -> int:
    """End every session of the application, then its session hosts (warm sessions too),
    directory and store; how many admitted sessions were ended. Safe to run from several
    replicas at once."""
    directory = _named(directory_name(app_name))
    ended = 0
    if directory is not None:
        with contextlib.suppress(Exception):  # another replica may be ending them too
            ended = await asyncio.wait_for(directory.end_all.remote(), 10.0)
    hosts = [_named(host_name(key)) for key in await asyncio.to_thread(application_hosts, app_name)]
    for actor in (*hosts, directory, _named(store_name(app_name))):
        if actor is not None:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
    return ended


def _named(name: str):
    try:
        return ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return None
