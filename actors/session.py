"""SessionActor: one Ray actor per user, holding the conversation and its turn pipeline.

The actor never loads a big model: speech and frames come from the pooled Serve
deployments (handles passed in), and only the encoder runs here. Its output is
one stream per attached connection (``events``), so a reconnect from any
ingress replica resumes the same conversation.
"""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np
import ray

from actors.conversation import Conversation, Outgoing
from actors.deployment_stages import DeploymentStages
from actors.history import ChatHistory
from actors.llm import make_llm
from actors.outbox import next_batch
from config import Settings

log = logging.getLogger("avatar_chat.session")
_DETACHED = object()


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

    async def expire_unless_attached(self, ttl_s: float) -> bool:
        """Kept ready in a pool (serve_app/session_pool.py): ends itself unless a connection
        attaches within ``ttl_s``, so warm actors of a pool that went away do not linger."""
        self._expiry = asyncio.create_task(self._expire(ttl_s))
        return True

    async def _expire(self, ttl_s: float) -> None:
        await asyncio.sleep(ttl_s)
        if not self._conn:
            log.info("warm session actor %s was not used; exiting", self.session_id)
            ray.actor.exit_actor()

    async def start(self, settings: dict, handles: dict, info: dict) -> None:
        """Become the session: settings, deployment handles and the avatar's description."""
        if self._started:
            raise RuntimeError(f"session {self.session_id} is already started")
        self._started = True
        session_id = self.session_id
        self.settings = Settings.load(settings)  # the API key comes from the environment
        self.info = info
        stages = DeploymentStages(
            tts=handles["tts"],
            avatar=handles["avatar"],
            settings=self.settings,
            avatar_info=info,
            session_id=session_id,
        )
        from serve_app.metrics import record_turn

        self.conv = Conversation(
            session_id=session_id,
            llm=make_llm(self.settings.llm),
            pipeline=stages.pipeline(),
            history=ChatHistory(max_messages=self.settings.llm.max_history_messages),
            max_queued=self.settings.server.max_queued_turns,
            on_turn_end=record_turn,
        )
        self.asr = handles.get("asr")
        self.voice = None
        if self.asr is not None and self.settings.vad.enabled:
            from actors.voice import VoiceInput

            self.voice = VoiceInput(
                conversation=self.conv,
                transcribe=lambda pcm, rate: self.asr.transcribe.remote(pcm, rate),
                settings=self.settings.vad,
                max_chars=self.settings.text.max_input_chars,
            )
        self._voice_watch: asyncio.Task | None = None
        self._attached = False
        self._detached_at = time.monotonic()
        self._reaper: asyncio.Task | None = None

    async def attach(self, resumed: bool) -> dict:
        """A connection takes over the session; returns the ``session`` event."""
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._reap())
        if self._ended:
            return {}
        self._conn += 1
        self._attached = True
        self.conv.put(_DETACHED)  # ends the previous connection's stream, if any
        self.conv.last_activity = time.monotonic()
        s = self.settings
        event = {
            "type": "session",
            "session_id": self.session_id,
            "protocol": 1,
            "resumed": resumed,
            "history": self.conv.history.messages if resumed else [],
            "avatar": self.info,
            "voice_input": await self._voice_status(),
            "llm": {"offline": s.llm.offline, "model": "echo" if s.llm.offline else s.llm.model},
            "conn": self._conn,
        }
        return event

    async def events(self, conn: int):
        """Lists of outgoing items for connection ``conn`` until another connection takes
        over; several items per list, so each Ray hop to the client carries a batch."""
        window_s = self.settings.server.text_batch_ms / 1000
        while True:
            batch = await next_batch(
                self.conv.outbox, window_s=window_s, barrier=lambda item: item is _DETACHED
            )
            if batch[-1] is _DETACHED:
                batch.pop()
                if batch:
                    yield batch
                if conn != self._conn or self._ended:
                    return
                continue  # a marker meant for an older stream
            yield batch

    async def detach(self, conn: int) -> None:
        if conn == self._conn:
            self._attached = False
            self._detached_at = time.monotonic()
            await self.conv.interrupt("disconnected")
            self.conv.put(_DETACHED)

    async def _voice_status(self) -> dict:
        if self.voice is None:
            return {"available": False, "reason": "voice input is disabled on this server"}
        try:
            status = await self.asr.status.remote()
        except Exception as exc:  # the ASR pool is down: text keeps working
            status = {"available": False, "state": "down", "reason": f"ASR is down: {exc}"}
        if status.get("state") == "loading" and self._voice_watch is None:
            self._voice_watch = asyncio.create_task(self._announce_when_loaded())
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
                event = {"type": "voice_input", **{k: status[k] for k in ("available", "reason")}}
                event["state"] = status["state"]
                event["min_silence_ms"] = self.settings.vad.min_silence_ms
                self.conv.put(event)
                return

    async def audio(self, data: bytes) -> None:
        """Microphone PCM16LE mono 16 kHz (whole samples; the ingress checks framing)."""
        if self.voice is None:
            self.conv.error("voice_unavailable", "voice input is disabled on this server")
            return
        await self.voice.feed(np.frombuffer(data, dtype="<i2"))

    async def text(self, text: str, client_id: str | None = None) -> str | None:
        return self.conv.submit_text(text, client_id)

    async def interrupt(self) -> str | None:
        return await self.conv.interrupt("client")

    async def error(self, code: str, message: str) -> None:
        self.conv.error(code, message)

    async def alive(self) -> bool:
        return not self._ended

    async def end(self, reason: str = "closed") -> None:
        if self._ended:
            return
        self._ended = True
        if not self._started:
            return
        log.info("session=%s ended (%s)", self.session_id, reason)
        if self.voice is not None:
            await self.voice.close()
        await self.conv.close()
        self.conv.put(_DETACHED)

    async def _reap(self) -> None:
        """End the session after the resume grace period or the idle timeout."""
        srv = self.settings.server
        while not self._ended:
            await asyncio.sleep(min(1.0, srv.resume_grace_s / 4 or 0.25))
            now = time.monotonic()
            if not self._attached and now - self._detached_at > srv.resume_grace_s:
                await self.end("not resumed within the grace period")
            elif not self.conv.busy and now - self.conv.last_activity > srv.idle_timeout_s:
                self.conv.error("session_idle", "the session ended after being idle")
                await self.end("idle")
        try:
            directory = ray.get_actor("avatar-chat-directory", namespace="avatar-chat")
            await directory.release.remote(self.session_id)
        except ValueError:
            pass
        await asyncio.sleep(0.5)  # let the last events reach the connection
        ray.actor.exit_actor()


__all__ = ["DeploymentStages", "Outgoing", "SessionActor"]
