"""One WebSocket connection: admission, message validation, relay to and from the session."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

import ray
from starlette.websockets import WebSocket, WebSocketDisconnect

from actors.messages import MediaChunk
from config import Settings
from serve_app.directory import NAMESPACE, get_directory
from serve_app.metrics import record_client_error
from serve_app.protocol import (
    CLOSE_CAPACITY,
    CLOSE_TOO_BIG,
    ProtocolError,
    RateLimiter,
    check_audio,
    frame_media,
    parse_client_text,
)
from serve_app.session_pool import (
    create_session_actor,
    end_session_actor,
    new_session_id,
    session_actor_name,
)

log = logging.getLogger("avatar_chat.ingress")
MAX_AUDIO_IN_FLIGHT = 25  # half a second of 20 ms messages


class Connection:
    """Client socket <-> SessionActor relay; drops media of interrupted turns at once."""

    def __init__(
        self, ws: WebSocket, settings: Settings, settings_dict: dict, handles, pool=None
    ) -> None:
        self.ws, self.settings, self.handles, self.pool = ws, settings, handles, pool
        self.settings_dict = settings_dict
        self.limiter = RateLimiter(rate=settings.server.max_messages_per_s)
        self.current_turn: str | None = None
        self._audio_calls: deque = deque()
        self.cancelled: set[str] = set()
        self.actor = None

    async def run(self, avatar_info: dict) -> None:
        await self.ws.accept()
        session = await self._open(self.ws.query_params.get("session"), avatar_info)
        if session is None:
            return
        self.actor, session_id, resumed = session
        hello = await self.actor.attach.remote(resumed)
        conn = hello.pop("conn")
        await self.ws.send_json(hello)
        log.info("session=%s connected (resumed=%s)", session_id, resumed)
        pump = asyncio.create_task(self._pump(conn))
        try:
            await self._receive_loop()
        finally:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
            try:
                await self.actor.detach.remote(conn)
            except ray.exceptions.RayActorError:
                pass
            log.info("session=%s disconnected", session_id)

    async def _open(self, resume_id: str | None, avatar_info: dict):
        if resume_id:
            try:
                actor = ray.get_actor(session_actor_name(resume_id), namespace=NAMESPACE)
                if await actor.alive.remote():
                    return actor, resume_id, True
            except (ValueError, ray.exceptions.RayActorError):
                pass
            await self._error("session_expired", "that session has ended; starting a new one")
        warm = self.pool.take() if self.pool is not None else None
        session_id = warm[0] if warm else new_session_id()
        if not await get_directory().admit.remote(session_id, self.settings.server.max_sessions):
            if warm:
                self.pool.give_back(warm)
            await self._refuse("the server is at capacity; please try again later")
            return None
        if warm:
            return warm[1], session_id, False  # started ahead by the pool
        actor = create_session_actor(session_id, self.settings)
        timeout_s = self.settings.server.session_start_timeout_s
        try:
            start = actor.start.remote(self.settings_dict, self.handles, avatar_info)
            await asyncio.wait_for(start, timeout_s)
        except TimeoutError:
            # Not placed in time: the cluster lacks the CPUs or memory for one more session.
            log.warning("session=%s not started within %g s: refused", session_id, timeout_s)
            end_session_actor(actor)
            await get_directory().release.remote(session_id)
            await self._refuse("no room to start a session right now; please try again later")
            return None
        return actor, session_id, False

    async def _receive_loop(self) -> None:
        srv = self.settings.server
        while True:
            try:
                message = await self.ws.receive()
            except WebSocketDisconnect:
                return
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            text = message.get("text")
            size = len(data) if data is not None else len((text or "").encode())
            if size > srv.max_message_bytes:
                await self._error("too_big", f"message of {size} bytes exceeds the limit")
                await self.ws.close(code=CLOSE_TOO_BIG, reason="message too big")
                return
            if not self.limiter.allow():
                await self._error("rate_limited", "too many messages; this one was dropped")
                continue
            try:
                if data is not None:
                    await self._on_audio(data)
                else:
                    await self._on_text(text or "")
            except ProtocolError as exc:
                await self._error(exc.code, str(exc), exc.client_id)

    async def _on_text(self, raw: str) -> None:
        msg = parse_client_text(raw, max_chars=self.settings.text.max_input_chars)
        if msg.type == "ping":
            await self.ws.send_json({"type": "pong"})
        elif msg.type == "interrupt":
            if self.current_turn:  # drop what is already in flight, before the actor confirms
                self.cancelled.add(self.current_turn)
            await self.actor.interrupt.remote()
        else:
            await self.actor.text.remote(msg.text, msg.client_id)

    async def _on_audio(self, data: bytes) -> None:
        check_audio(data)
        # Not awaited one by one: a 20 ms message must not wait for the previous one's round
        # trip, or audio queues here and barge-in lags. Ray starts a caller's calls in order
        # and the session's VAD lock keeps them in order; the bound stops a runaway backlog.
        self._audio_calls.append(self.actor.audio.remote(data))
        while len(self._audio_calls) > MAX_AUDIO_IN_FLIGHT:
            await self._audio_calls.popleft()

    async def _pump(self, conn: int) -> None:
        """Session output -> socket; the bytes are copied only here, at the last hop."""
        try:
            async for ref in self.actor.events.remote(conn):
                for item in await ref:  # a batch (see actors/outbox.py)
                    await self._send(item)
        except (WebSocketDisconnect, RuntimeError, ray.exceptions.RayActorError) as exc:
            log.info("event stream ended: %s", type(exc).__name__)

    async def _send(self, item) -> None:
        if isinstance(item, MediaChunk):
            if item.turn_id not in self.cancelled:
                await self.ws.send_bytes(frame_media(item))
            return
        kind, turn = item.get("type"), item.get("turn_id")
        if kind == "turn_start":
            self.current_turn = turn
        elif kind == "interrupted":
            self.cancelled.add(turn)
        elif turn in self.cancelled:
            return
        if kind == "error":
            record_client_error(item.get("code", ""))
        await self.ws.send_json(item)

    async def _refuse(self, message: str) -> None:
        await self._error("capacity", message)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # it may have gone meanwhile
            await self.ws.close(code=CLOSE_CAPACITY, reason="server at capacity")

    async def _error(self, code: str, message: str, client_id: str | None = None) -> None:
        record_client_error(code)
        event = {"type": "error", "code": code, "message": message}
        if client_id:
            event["id"] = client_id
        try:
            await self.ws.send_json(event)
        except (WebSocketDisconnect, RuntimeError):
            pass
