"""Ingress deployment: Starlette routes for the web client, health, and the session socket.

Stateless: any replica serves any connection, because a session's state lives on
a SessionHost (which the shared SessionDirectory, where admission is counted, names
on resume).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from ray import serve
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from actors.engines.avatar.base import AvatarInfo
from actors.session.metrics import record_sessions
from actors.session.store import get_store
from config import Settings
from serve_app.app_lifecycle import (
    RESTART_MESSAGE,
    application_is_going_away,
    end_application_actors,
    replica_state,
)
from serve_app.connection import Connection, SessionContext, client_address
from serve_app.directory import get_directory
from serve_app.http_security import SecurityHeaders, SocketGate
from serve_app.idle import render_idle_clip
from serve_app.page import index_response, static_routes
from serve_app.session_hosts import SessionHosts
from serve_app.session_pool import SessionPool

log = logging.getLogger("avatar_chat.ingress")
IDLE_CLIPS_KEPT = 8
STOP_POLL_S = 2.0  # how often a replica with sockets asks whether Serve is stopping it


@serve.deployment(name="Ingress", ray_actor_options={"num_cpus": 0.1}, max_ongoing_requests=200)
@serve.ingress()
class Ingress:
    """HTTP and WebSocket front door; relays each socket to its session."""

    def __init__(self, settings: dict, tts, avatar, asr=None) -> None:
        self.settings = Settings.model_validate(settings)
        self.settings_dict = settings
        self.handles = {"tts": tts, "avatar": avatar}
        if asr is not None:
            self.handles["asr"] = asr
        self._avatar_info: AvatarInfo | None = None
        # (avatar name, the Avatar deployment's drawing tag) -> clip
        self._idle_clips: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._idle_lock = asyncio.Lock()
        self._gate = SocketGate.from_env(allowed_origins=self.settings.server.allowed_origins)
        srv = self.settings.server
        self._hosts = SessionHosts(self.settings, app_name=serve.get_replica_context().app_name)
        self._pool = SessionPool(
            self.settings,
            self._start_session,
            hosts=self._hosts,
            size=min(srv.warm_sessions, srv.max_sessions),
            # warm_sessions 0 turns the pool off, bursts or not
            max_size=min(max(srv.warm_sessions, srv.warm_sessions_max), srv.max_sessions)
            if srv.warm_sessions
            else 0,
        )
        self._ctx: SessionContext | None = None
        self._connections: set[Connection] = set()
        self._stopping = False
        self._stop_watch: asyncio.Task | None = None

    async def check_health(self) -> None:
        """Serve calls this every few seconds: keeps the warm sessions topped up."""
        self._pool.fill()

    async def _start_session(self, actor) -> None:
        ctx = await self._context()
        args, kwargs = ctx.start_args(await self.avatar_info())
        await actor.start.remote(*args, **kwargs)

    async def _context(self) -> SessionContext:
        """The application's admission directory and session store, found on first use."""
        if self._ctx is None:
            replica = serve.get_replica_context()
            app = replica.app_name
            self._ctx = SessionContext(
                settings=self.settings,
                settings_dict=self.settings_dict,
                handles=self.handles,
                directory=await get_directory(app, self.settings),
                store=get_store(app, resources=self.settings.server.session_resources),
                hosts=self._hosts,
                pool=self._pool,
                # Serve gives each deployment of the code a new version: sessions started by
                # another are retired on resume (serve_app/connection.py).
                generation=replica.code_version or "",
            )
        return self._ctx

    def __serve_build_asgi_app__(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self.index),
                Route("/healthz", self.healthz),
                Route("/idle.mp4", self.idle_clip),
                Route("/avatars/{name}/thumbnail.jpg", self.avatar_thumbnail),
                Route("/avatars/{name}/idle.mp4", self.avatar_idle_clip),
                WebSocketRoute("/ws", self.websocket),
                *static_routes(test_view=self.settings.server.test_view),
            ],
            middleware=[Middleware(SecurityHeaders)],
        )

    async def avatar_info(self) -> AvatarInfo:
        if self._avatar_info is None:
            self._avatar_info = await self.handles["avatar"].info.remote()
        return self._avatar_info

    async def index(self, request) -> Response:
        self._pool.fill()  # a page load is followed by a connection
        return index_response(test_view=self.settings.server.test_view)

    async def healthz(self, request) -> Response:
        async def probe(name: str, handle) -> tuple[str, bool]:
            try:
                return name, bool(await asyncio.wait_for(handle.ready.remote(), 5.0))
            except Exception:
                return name, False

        results = dict(await asyncio.gather(*(probe(n, h) for n, h in self.handles.items())))
        ok = all(results.values())
        sessions = await (await self._context()).directory.count.remote()
        record_sessions(sessions)
        self._pool.fill()
        body = {
            "ok": ok,
            "deployments": results,
            "sessions": sessions,
            "warm_sessions": self._pool.ready,
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    async def idle_clip(self, request) -> Response:
        """``/idle.mp4``: the server's own avatar at rest, a seamless loop."""
        return await self._idle_response(None)

    async def avatar_idle_clip(self, request) -> Response:
        """``/avatars/NAME/idle.mp4``: that avatar's idle loop; 404 if it is not offered."""
        return await self._idle_response(request.path_params["name"])

    async def _idle_response(self, name: str | None) -> Response:
        # Rendered once per avatar and drawing (a few seconds of frames and an encode), the
        # last IDLE_CLIPS_KEPT kept: browsers also cache them for an hour. The drawing tag
        # changes when the Avatar deployment is reconfigured: its clips are then made again.
        avatar = self.handles["avatar"]
        key = (name or "", await avatar.drawing.remote())  # "": no name, the server's own
        async with self._idle_lock:
            clip = self._idle_clips.get(key)
            if clip is None:
                try:
                    info = await avatar.info.remote(name)
                except ValueError:  # the Avatar deployment's answer to a name it does not offer
                    return Response("unknown avatar\n", status_code=404, media_type="text/plain")
                clip = await render_idle_clip(avatar, info, self.settings, name)
                self._idle_clips[key] = clip
                while len(self._idle_clips) > IDLE_CLIPS_KEPT:
                    self._idle_clips.popitem(last=False)
            self._idle_clips.move_to_end(key)
        return Response(clip, media_type="video/mp4", headers={"Cache-Control": "max-age=3600"})

    async def avatar_thumbnail(self, request) -> Response:
        """``/avatars/NAME/thumbnail.jpg``: a small JPEG of the avatar at rest; 404 if unknown."""
        # The Avatar deployment keeps the JPEGs (and drops them when reconfigured); a second
        # cache here would outlive that. Browsers keep them for an hour.
        try:
            image = await self.handles["avatar"].thumbnail.remote(request.path_params["name"])
        except ValueError:  # the Avatar deployment's answer to a name it does not offer
            return Response("unknown avatar\n", status_code=404, media_type="text/plain")
        return Response(image, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    async def websocket(self, websocket) -> None:
        if not await self._gate.admit(websocket):  # origin / token, before accept
            return
        client = client_address(
            websocket, trust_forwarded=self.settings.server.trusted_forwarded_for
        )
        conn = Connection(websocket, await self._context(), client=client)
        if self._stopping:  # a late arrival: straight to another replica
            await websocket.accept()
            await conn.restart(RESTART_MESSAGE)
            return
        self._connections.add(conn)
        if self._stop_watch is None or self._stop_watch.done():
            self._stop_watch = asyncio.get_running_loop().create_task(self._watch_for_stop())
        try:
            await conn.run(await self.avatar_info())
        finally:
            self._connections.discard(conn)

    async def _watch_for_stop(self) -> None:
        """While sockets are open, ask every STOP_POLL_S whether Serve is stopping this
        replica (its ``__del__`` would come only after every socket closed by itself)."""
        ctx = serve.get_replica_context()
        while self._connections and not self._stopping:
            await asyncio.sleep(STOP_POLL_S)
            try:
                state = await asyncio.to_thread(
                    replica_state, ctx.app_name, ctx.deployment, ctx.replica_id.unique_id
                )
            except Exception as exc:  # the controller is busy or restarting: ask again
                log.debug("replica state unknown (%s)", exc)
                continue
            if state in (None, "STOPPING"):
                await self._stop_serving()

    async def _stop_serving(self) -> tuple[int, int]:
        """Warm sessions end; each socket gets ``server_restarting`` and close 1012, and its
        session waits (detached) to be resumed on another replica. Once only."""
        if self._stopping:
            return 0, 0
        self._stopping = True
        warm = self._pool.close()
        sockets = list(self._connections)
        await asyncio.gather(*(c.restart(RESTART_MESSAGE) for c in sockets))
        return warm, len(sockets)

    async def __del__(self) -> None:
        """Serve stops this replica (after its sockets closed): ``_stop_serving`` if not
        done yet, and if the application is being deleted, its sessions, directory and
        store end too (serve_app/app_lifecycle.py)."""
        warm, sockets = await self._stop_serving()
        app = serve.get_replica_context().app_name
        ended = await end_application_actors(app) if await application_is_going_away(app) else 0
        log.info(
            "ingress stopping: %d warm sessions and %d sockets closed, %d sessions ended",
            warm,
            sockets,
            ended,
        )
