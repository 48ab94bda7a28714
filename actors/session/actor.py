"""SessionActor: one Ray actor per user, holding the conversation and its turn pipeline.

The actor never loads a big model: speech and frames come from the pooled Serve
deployments (handles passed in), and only the encoder runs here. Its output is
one stream per attached connection (``events``), so a reconnect from any
ingress replica resumes the same conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

import numpy as np
import ray

from actors.core.errors import ErrorCode, InterruptReason
from actors.core.events import PROTOCOL_VERSION, SessionEvent, VoiceInputEvent
from actors.engines.avatar.base import AvatarInfo
from actors.engines.llm import llm_engines
from actors.pipeline.conversation import Conversation
from actors.pipeline.history import ChatHistory
from actors.pipeline.outbox import OutboxItem, StreamBreak, StreamEnd, next_batch
from actors.session.remote_stages import DeploymentStages
from config import Settings

log = logging.getLogger("avatar_chat.session")
RESTORE_WAIT_S = 120.0  # a restarted actor that no connection restores in this time exits


@ray.remote
class SessionActor:
    """Client messages -> events and media for one user (history, turns, cancellation)."""

    def __init__(self, session_id: str) -> None:
        import cv2

        # Every session's encoder shares the same cores: OpenCV's thread pool on one small
        # frame costs more CPU in hand-offs than it saves.
        cv2.setNumThreads(1)
        self.session_id = session_id
        self._started = False
        self._ended = False
        self._conn = 0  # connections attached so far
        self._tasks: set[asyncio.Task] = set()
        self._directory = self._store = None
        if ray.get_runtime_context().was_current_actor_reconstructed:
            # Restarted after its process died: a connection that noticed restores it (start
            # with restore=True). If none does (its client had gone), do not linger.
            timer = threading.Timer(RESTORE_WAIT_S, self._exit_unless_started)
            timer.daemon = True
            timer.start()

    def _exit_unless_started(self) -> None:
        if not self._started:
            log.info("restarted session actor %s was not restored; exiting", self.session_id)
            _terminate_self()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def state(self) -> str:
        """``new`` (not started, e.g. just restarted), ``live`` or ``ended``."""
        return "ended" if self._ended else "live" if self._started else "new"

    async def expire_unless_attached(self, ttl_s: float) -> bool:
        """Kept ready in a pool (serve_app/session_pool.py): ends itself unless a connection
        attaches within ``ttl_s``, so warm actors of a pool that went away do not linger."""
        self._spawn(self._expire(ttl_s))
        return True

    async def _expire(self, ttl_s: float) -> None:
        await asyncio.sleep(ttl_s)
        if not self._conn:
            log.info("warm session actor %s was not used; exiting", self.session_id)
            self._ended = True
            self._shutdown()

    async def start(
        self,
        settings: dict,
        handles: dict,
        info: AvatarInfo,
        *,
        directory=None,
        store=None,
        restore: bool = False,
    ) -> None:
        """Become the session: settings, deployment handles and the avatar's description.

        ``directory`` holds the session's admission slot (released when it ends); ``store``
        keeps its history beyond this process; ``restore``: this actor was restarted after
        its process died, so the history comes back from ``store``.
        """
        if self._started:
            raise RuntimeError(f"session {self.session_id} is already started")
        self._started = True
        session_id = self.session_id
        self.settings = Settings.load(settings)  # the API key comes from the environment
        self.info = info
        self._directory, self._store = directory, store
        history = ChatHistory(max_messages=self.settings.llm.max_history_messages)
        if restore and store is not None:
            saved = await store.get.remote(session_id)
            if saved:
                history = ChatHistory.from_dict(saved["history"])
            log.info("session=%s restored (%d messages)", session_id, len(history))
        stages = DeploymentStages(
            tts=handles["tts"],
            avatar=handles["avatar"],
            settings=self.settings,
            avatar_info=info,
            session_id=session_id,
        )
        from actors.session.metrics import record_turn

        self.conv = Conversation(
            session_id=session_id,
            llm=llm_engines.create(self.settings.llm),
            pipeline=stages.pipeline(),
            history=history,
            max_queued=self.settings.server.max_queued_turns,
            on_turn_end=record_turn,
            on_turn_finished=self._save,
        )
        self.asr = handles.get("asr")
        self.voice = None
        if self.asr is not None and self.settings.vad.enabled:
            from actors.pipeline.voice_input import VoiceInput

            self.voice = VoiceInput(
                conversation=self.conv,
                transcribe=lambda utterance: self.asr.transcribe.remote(utterance),
                settings=self.settings.vad,
                max_chars=self.settings.text.max_input_chars,
            )
        self._voice_watch: asyncio.Task | None = None
        self._attached = False
        self._detached_at = time.monotonic()
        self._reaper: asyncio.Task | None = None
        if restore:
            self._reaper = self._spawn(self._reap())  # not resumed: ends after the grace

    def _save(self) -> None:
        """After every turn: the history, to the store that outlives this process. Not
        awaited; calls from one actor to another run in order, so the last one wins."""
        if self._store is not None and not self._ended:
            self._store.put.remote(self.session_id, {"history": self.conv.history.to_dict()})

    async def attach(self, resumed: bool) -> tuple[int, SessionEvent] | None:
        """A connection takes over the session; returns its connection number (which its
        later calls carry) and the ``session`` event; None if the session has ended."""
        if self._reaper is None:
            self._reaper = self._spawn(self._reap())
        if self._ended:
            return None
        self._conn += 1
        self._attached = True
        self.conv.put(StreamBreak())  # ends the previous connection's stream, if any
        self.conv.last_activity = time.monotonic()
        s = self.settings
        event = SessionEvent(
            session_id=self.session_id,
            protocol=PROTOCOL_VERSION,
            resumed=resumed,
            history=self.conv.history.messages if resumed else [],
            avatar=self.info.to_dict(),
            voice_input=await self._voice_status(),
            llm={"offline": s.llm.stand_in, "model": s.llm.model_name},
        )
        return self._conn, event

    async def events(self, conn: int):
        """Lists of outgoing items for connection ``conn`` until another connection takes
        over; several items per list, so each Ray hop to the client carries a batch."""
        window_s = self.settings.server.text_batch_ms / 1000
        while True:
            batch = await next_batch(
                self.conv.outbox,
                window_s=window_s,
                barrier=lambda item: isinstance(item, StreamBreak),
            )
            if isinstance(batch[-1], StreamBreak):
                batch.pop()
                if self._ended:
                    yield [*batch, StreamEnd("ended")]
                    return
                if conn != self._conn:
                    yield [*batch, StreamEnd("replaced")]
                    return
                if batch:
                    yield batch
                if not self._attached:
                    return  # its own connection left
                continue  # a marker meant for an older stream
            yield batch

    async def detach(self, conn: int) -> None:
        if conn == self._conn and self._attached:
            self._attached = False
            self._detached_at = time.monotonic()
            await self.conv.interrupt(InterruptReason.DISCONNECTED)
            self.conv.put(StreamBreak())

    async def _voice_status(self) -> dict:
        if self.voice is None:
            return {"available": False, "reason": "voice input is disabled on this server"}
        try:
            status = await self.asr.status.remote()
        except Exception as exc:  # the ASR pool is down: text keeps working
            log.warning("session=%s ASR status failed: %s", self.session_id, exc)
            status = {"available": False, "state": "down", "reason": "voice input is down"}
        if status.get("state") == "loading" and self._voice_watch is None:
            self._voice_watch = self._spawn(self._announce_when_loaded())
        return {
            "available": status["available"],
            "state": status.get("state", ""),
            "reason": status["reason"],
            "min_silence_ms": self.settings.vad.min_silence_ms,
        }

    async def _announce_when_loaded(self) -> None:
        """The speech model was still loading at connect: tell the client when that ends."""
        while not self._ended:
            await asyncio.sleep(2.0)
            status = await self.asr.status.remote()
            if status.get("state") != "loading":
                event = VoiceInputEvent(
                    available=status["available"],
                    reason=status["reason"],
                    state=status["state"],
                    min_silence_ms=self.settings.vad.min_silence_ms,
                )
                self.conv.put(event)
                return

    # Client messages carry their connection's number: one that another connection has
    # replaced reaches nothing (returns False).

    async def audio(self, conn: int, data: bytes) -> bool:
        """Microphone PCM16LE mono 16 kHz (whole samples; the ingress checks framing)."""
        if conn != self._conn or self._ended:
            return False
        self.conv.last_activity = time.monotonic()  # a hands-free user who only speaks
        if self.voice is None:
            self.conv.error(ErrorCode.VOICE_UNAVAILABLE, "voice input is disabled on this server")
            return True
        await self.voice.feed(np.frombuffer(data, dtype="<i2"))
        return True

    async def text(self, conn: int, text: str, client_id: str | None = None) -> bool:
        if conn != self._conn or self._ended:
            return False
        self.conv.submit_text(text, client_id)
        return True

    async def interrupt(self, conn: int) -> bool:
        if conn != self._conn or self._ended:
            return False
        await self.conv.interrupt(InterruptReason.CLIENT)
        return True

    async def error(self, code: ErrorCode, message: str) -> None:
        self.conv.error(code, message)

    async def alive(self) -> bool:
        return not self._ended

    async def end(self, reason: str = "closed") -> None:
        """End the session: its streams close, its slot and saved state go, and the actor
        process exits (it holds ~100 MB that a new session may need)."""
        if self._ended:
            return
        self._ended = True
        if not self._started:
            self._shutdown()
            return
        log.info("session=%s ended (%s)", self.session_id, reason)
        if self.voice is not None:
            await self.voice.close()
        await self.conv.close()
        self.conv.put(StreamBreak())
        with contextlib.suppress(Exception):  # the directory or store may be gone already
            if self._directory is not None:
                await self._directory.release.remote(self.session_id)
            if self._store is not None:
                await self._store.delete.remote(self.session_id)
        self._spawn(self._exit_soon())

    async def _exit_soon(self) -> None:
        await asyncio.sleep(0.5)  # let the last events reach the connection
        self._shutdown()

    def _shutdown(self) -> None:
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        _terminate_self()

    async def _reap(self) -> None:
        """End the session after the resume grace period or the idle timeout."""
        srv = self.settings.server
        while not self._ended:
            await asyncio.sleep(min(1.0, srv.resume_grace_s / 4 or 0.25))
            now = time.monotonic()
            if not self._attached and now - self._detached_at > srv.resume_grace_s:
                await self.end("not resumed within the grace period")
            elif not self.conv.busy and now - self.conv.last_activity > srv.idle_timeout_s:
                self.conv.error(ErrorCode.SESSION_IDLE, "the session ended after being idle")
                await self.end("idle")


def _terminate_self() -> None:
    """Exit the actor process for good (no restart). ``ray.kill`` of itself, after the
    session has released what it held: a graceful exit (``exit_actor``,
    ``__ray_terminate__``) waits for every call in flight, and an abandoned event stream is
    one that never returns, so those processes lingered."""
    ray.kill(ray.get_runtime_context().current_actor, no_restart=True)


__all__ = ["DeploymentStages", "OutboxItem", "SessionActor"]
