"""One WebSocket connection: admission, message validation, relay to and from the session."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

from starlette.websockets import WebSocket, WebSocketDisconnect

from actors.core.errors import ErrorCode
from actors.core.events import (
    ErrorEvent,
    InterruptedEvent,
    PongEvent,
    ServerEvent,
    ServerRestartingEvent,
    TurnEndEvent,
    TurnStartEvent,
)
from actors.core.messages import MediaChunk
from actors.engines.avatar.base import AvatarInfo
from actors.pipeline.outbox import DroppedTurns, OutboxItem, StreamEnd
from actors.session.metrics import record_client_error
from config import Settings
from serve_app.protocol import (
    CLOSE_CAPACITY,
    CLOSE_REPLACED,
    CLOSE_RESTARTING,
    CLOSE_TOO_BIG,
    ByteBudget,
    ProtocolError,
    RateLimiter,
    check_audio,
    choices_from_query,
    frame_media,
    parse_client_text,
    to_wire,
)
from serve_app.session_hosts import ACTOR_GONE, end_session, find_session, new_session_id
from serve_app.session_restore import restore_session

log = logging.getLogger("avatar_chat.ingress")
MAX_AUDIO_IN_FLIGHT = 25  # half a second of 20 ms messages


@dataclass(frozen=True, slots=True)
class SessionContext:
    """What every connection of an application needs to start or restore a session."""

    settings: Settings
    settings_dict: dict
    handles: dict
    directory: object  # SessionDirectory handle
    store: object  # SessionStore handle
    hosts: object  # SessionHosts: where this replica places new sessions
    pool: object = None  # SessionPool, or None
    generation: str = ""  # the deployed code's version; sessions carry the one that started them

    def start_args(self, info: dict, *, restore: bool = False) -> tuple[tuple, dict]:
        kwargs = {"directory": self.directory, "store": self.store, "restore": restore}
        kwargs["generation"] = self.generation
        return (self.settings_dict, self.handles, info), kwargs


async def _still_live(session) -> bool:
    try:
        return await session.state.remote() == "live"
    except ACTOR_GONE:
        return False


def client_address(ws: WebSocket, *, trust_forwarded: bool) -> str:
    """Who a socket's client is, for per-client limits: its peer address, or, behind a
    trusted reverse proxy, the address that proxy appended to X-Forwarded-For (the last
    entry: earlier ones are whatever the client itself sent)."""
    if trust_forwarded:
        forwarded = ws.headers.get("x-forwarded-for", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last[:64]
    return ws.client.host if ws.client is not None else "unknown"


class Connection:
    """Client socket <-> session relay; drops media of interrupted turns at once.

    A session has one socket: a resume from elsewhere replaces this one (error ``replaced``,
    close 4001). A session host that dies is noticed at once (error ``session_lost``); the
    session is restored with its history when Ray restarts the host, on the same socket.
    """

    def __init__(self, ws: WebSocket, ctx: SessionContext, *, client: str) -> None:
        self.ws, self.ctx, self.settings, self.client = ws, ctx, ctx.settings, client
        srv = self.settings.server
        self.limiter = RateLimiter(rate=srv.max_messages_per_s)
        self.budget = ByteBudget(rate=srv.max_bytes_per_s)
        self.current_turn: str | None = None
        self._audio_calls: deque = deque()
        self.cancelled = DroppedTurns()  # turns interrupted: their items are not sent
        self.actor = None
        self.conn = 0

    async def run(self, avatar_info: AvatarInfo) -> None:
        await self.ws.accept()
        allowed = await self.ctx.directory.connect.remote(self.client)
        if not allowed.admitted:
            await self._refuse(allowed.code, allowed.reason)
            return
        session = await self._open(self.ws.query_params.get("session"), avatar_info)
        if session is None:
            return
        self.actor, session_id, resumed = session
        choices = choices_from_query(self.ws.query_params)  # a new session's; see attach
        while True:
            attached = await self.actor.attach.remote(resumed, choices or None)
            if attached is None:  # it ended between admission and attach
                await self._refuse(
                    ErrorCode.SESSION_EXPIRED, "that session has ended; please reconnect"
                )
                return
            self.conn, hello = attached
            await self._send_event(hello)
            log.info("session=%s connected (resumed=%s)", session_id, resumed)
            outcome = await self._relay()
            log.info("session=%s relay ended: %s", session_id, outcome)
            if outcome != "lost":
                break
            await self._on_lost(session_id)
            if not await self._restore(session_id, avatar_info):
                return
            resumed = True
        if outcome == "closed":
            with contextlib.suppress(*ACTOR_GONE):
                await self.actor.detach.remote(self.conn)
            await self.ctx.directory.detached.remote(session_id)
        elif outcome == "replaced":
            await self._error(ErrorCode.REPLACED, "this session was resumed on another connection")
            await self._close(CLOSE_REPLACED, "replaced")
        elif outcome == "ended":
            await self._close(1000, "session ended")

    async def restart(self, message: str) -> None:
        """This ingress is stopping: say so and close with 1012. The relay then ends as if
        the client had left, so the session waits (detached) for the client to resume it."""
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self._send_event(ServerRestartingEvent(message))
        await self._close(CLOSE_RESTARTING, "server restarting")

    async def _relay(self) -> str:
        """Until the client leaves (``closed``), another connection takes the session
        (``replaced``), the session ends (``ended``) or its actor dies (``lost``)."""
        pump = asyncio.create_task(self._pump())
        receive = asyncio.create_task(self._receive_loop())
        done, _ = await asyncio.wait({pump, receive}, return_when=asyncio.FIRST_COMPLETED)
        for task in (pump, receive):
            task.cancel()
        results = await asyncio.gather(pump, receive, return_exceptions=True)
        first = pump if pump in done else receive
        outcome = results[0] if first is pump else results[1]
        return outcome if isinstance(outcome, str) else "closed"

    async def _open(self, resume_id: str | None, avatar_info: AvatarInfo):
        if resume_id:
            opened = await self._resume(resume_id, avatar_info)
            if opened is not None:
                return opened
            await self._error(
                ErrorCode.SESSION_EXPIRED, "that session has ended; starting a new one"
            )
        pool = self.ctx.pool
        warm = pool.take() if pool is not None else None
        session_id = warm[0] if warm else new_session_id()
        if not await self._admit(session_id, warm[1].host_key if warm else None):
            if warm:
                pool.give_back(warm)
            return None
        if warm and await _still_live(warm[1]):
            return warm[1], session_id, False  # started ahead by the pool
        # None warm, or its host died since (restarted without it): one of our own, same id.
        timeout_s = self.settings.server.session_start_timeout_s
        args, kwargs = self.ctx.start_args(avatar_info)
        actor = None

        async def place_and_start():
            nonlocal actor
            actor = await self.ctx.hosts.open(session_id)
            await self.ctx.directory.placed.remote(session_id, actor.host_key)
            await actor.start.remote(*args, **kwargs)

        try:
            await asyncio.wait_for(place_and_start(), timeout_s)
        except TimeoutError:
            # Not placed in time: the cluster lacks the CPUs or memory for one more session.
            log.warning("session=%s not started within %g s: refused", session_id, timeout_s)
            end_session(actor)
            await self.ctx.directory.release.remote(session_id)
            await self._refuse(
                ErrorCode.CAPACITY, "no room to start a session right now; please try again later"
            )
            return None
        return actor, session_id, False

    async def _resume(self, session_id: str, avatar_info: AvatarInfo):
        actor = await find_session(self.ctx.directory, session_id)
        if actor is None:
            return None
        try:
            state = await actor.state.remote()
        except ACTOR_GONE:
            return None
        if state == "ended":
            return None
        if state == "live" and await actor.generation.remote() != self.ctx.generation:
            return await self._renew(session_id, actor, avatar_info)
        if state == "new":  # restarted after its process died, and nobody restored it yet
            self.actor = actor
            if not await self._restore(session_id, avatar_info, announce=False):
                return None
            return actor, session_id, True
        if not await self._admit(session_id, actor.host_key):
            return None
        return actor, session_id, True

    async def _renew(self, session_id: str, old, avatar_info: AvatarInfo):
        """The session was started by code the application has since replaced (a redeploy):
        the old session retires (releasing its slot), keeping the saved history, and a new
        one on a host of this replica, running this code, takes the session id and restores
        it."""
        log.info("session=%s started by an older deployment: renewing it", session_id)
        with contextlib.suppress(*ACTOR_GONE):
            await old.retire.remote()
        timeout_s = self.settings.server.session_start_timeout_s
        try:
            self.actor = await asyncio.wait_for(self.ctx.hosts.open(session_id), timeout_s)
        except TimeoutError:
            log.warning("session=%s: no host for its renewal within %g s", session_id, timeout_s)
            return None
        if not await self._restore(session_id, avatar_info, announce=False):
            end_session(self.actor)
            return None
        return self.actor, session_id, True

    async def _admit(self, session_id: str, host_key: str | None) -> bool:
        """A slot for ``session_id`` (on the host of ``host_key``; None: not placed yet)."""
        directory = self.ctx.directory
        decision = await directory.admit.remote(session_id, self.client, host_key)
        for victim in decision.evict:  # detached sessions whose slots went to this one
            log.info("session=%s evicted for a new session", victim)
            gone = await find_session(directory, victim)
            if gone is not None:
                gone.end.remote("evicted: its slot went to a new session")
        if not decision.admitted:
            await self._refuse(decision.code, decision.reason)
        return decision.admitted

    async def _on_lost(self, session_id: str) -> None:
        """The session's host died: tell the client at once and free the slot."""
        self._audio_calls.clear()
        await self._error(
            ErrorCode.SESSION_LOST,
            "the session stopped unexpectedly; restoring your conversation",
            turn_id=self.current_turn,
        )
        self.current_turn = None
        await self.ctx.directory.release.remote(session_id)

    async def _restore(self, session_id: str, avatar_info: AvatarInfo, *, announce=True) -> bool:
        args, kwargs = self.ctx.start_args(avatar_info, restore=True)
        timeout_s = self.settings.server.session_start_timeout_s
        if not await restore_session(self.actor, args, kwargs, timeout_s=timeout_s):
            if announce:
                await self._refuse(ErrorCode.SESSION_EXPIRED, "the session could not be restored")
            return False
        return await self._admit(session_id, self.actor.host_key)

    async def _receive_loop(self) -> str:
        srv = self.settings.server
        while True:
            try:
                message = await self.ws.receive()
            except WebSocketDisconnect:
                return "closed"
            if message["type"] == "websocket.disconnect":
                return "closed"
            data = message.get("bytes")
            text = message.get("text")
            # Character count first: cheap, and a bound on the bytes (at most 4 per character).
            size = len(data) if data is not None else len(text or "")
            if size > srv.max_message_bytes:
                await self._error(ErrorCode.TOO_BIG, f"a message of over {size} bytes is too big")
                await self._close(CLOSE_TOO_BIG, "message too big")
                return "closed"
            if not self.limiter.allow() or not self.budget.allow(size):
                await self._error(ErrorCode.RATE_LIMITED, "too many messages; this one was dropped")
                continue
            try:
                if data is not None:
                    await self._on_audio(data)
                else:
                    await self._on_text(text or "")
            except ProtocolError as exc:
                await self._error(exc.code, str(exc), exc.client_id)
            except ACTOR_GONE:
                return "lost"

    async def _on_text(self, raw: str) -> None:
        msg = parse_client_text(
            raw,
            max_chars=self.settings.text.max_input_chars,
            max_bytes=self.settings.server.max_text_message_bytes,
        )
        if msg.type == "ping":
            await self._send_event(PongEvent())
        elif msg.type == "interrupt":
            if self.current_turn:  # drop what is already in flight, before the actor confirms
                self.cancelled.drop(self.current_turn)
            await self.actor.interrupt.remote(self.conn)
        elif msg.type == "configure":
            await self.actor.configure.remote(self.conn, msg.choices or {}, msg.client_id)
        else:
            await self.actor.text.remote(self.conn, msg.text, msg.client_id)

    async def _on_audio(self, data: bytes) -> None:
        check_audio(data)
        # Not awaited one by one: a 20 ms message must not wait for the previous one's round
        # trip, or audio queues here and barge-in lags. Ray starts a caller's calls in order
        # and the session's VAD lock keeps them in order; the bound stops a runaway backlog.
        self._audio_calls.append(self.actor.audio.remote(self.conn, data))
        while len(self._audio_calls) > MAX_AUDIO_IN_FLIGHT:
            await self._audio_calls.popleft()

    async def _pump(self) -> str:
        """Session output -> socket; the bytes are copied only here, at the last hop."""
        try:
            async for ref in self.actor.events.remote(self.conn):
                for item in await ref:  # a batch (see actors/outbox.py)
                    if isinstance(item, StreamEnd):
                        return item.reason
                    await self._send(item)
        except ACTOR_GONE:
            return "lost"
        except (WebSocketDisconnect, RuntimeError) as exc:
            log.info("event stream ended: %s", type(exc).__name__)
        return "closed"

    async def _send(self, item: OutboxItem) -> None:
        turn = getattr(item, "turn_id", None)
        if isinstance(item, TurnStartEvent):
            self.current_turn = turn
        elif isinstance(item, InterruptedEvent):
            self.cancelled.drop(turn)  # the event itself goes out: the client drops its media
        elif not self.cancelled.keeps(item):
            return
        if isinstance(item, MediaChunk):
            await self.ws.send_bytes(frame_media(item))
            return
        if isinstance(item, TurnEndEvent | InterruptedEvent) and turn == self.current_turn:
            self.current_turn = None
        if isinstance(item, ErrorEvent):
            record_client_error(item.code)
        await self._send_event(item)

    async def _send_event(self, event: ServerEvent) -> None:
        """Every event leaves through here: the one place it becomes JSON."""
        await self.ws.send_json(to_wire(event))

    async def _refuse(self, code: ErrorCode, message: str) -> None:
        await self._error(code, message)
        await self._close(CLOSE_CAPACITY, "try again later")

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # it may have gone meanwhile
            await self.ws.close(code=code, reason=reason)

    async def _error(
        self, code: ErrorCode, message: str, client_id: str | None = None, *, turn_id=None
    ) -> None:
        record_client_error(code)
        event = ErrorEvent(code, message, turn_id=turn_id or None, client_id=client_id or None)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self._send_event(event)
