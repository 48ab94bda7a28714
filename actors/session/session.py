"""Session: one user's conversation and its turn pipeline, hosted in a SessionHost actor.

A session never loads a big model: speech and frames come from the pooled Serve
deployments (handles passed in), and only the encoder (and the VAD, on microphone audio)
runs here. Its output is one stream per attached connection (``events``), so a reconnect
from any ingress replica resumes the same conversation. Several sessions share one host
process (actors/session/host.py); a session's ``on_exit`` tells its host it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import numpy as np

from actors.core.errors import ErrorCode, InterruptReason
from actors.core.events import (
    PROTOCOL_VERSION,
    ConfiguredEvent,
    SessionEvent,
    VoiceInputEvent,
)
from actors.engines.avatar.base import AvatarInfo
from actors.engines.llm import llm_engines
from actors.pipeline.choices import ChoiceError, ChoiceOptions, SessionChoices, choose
from actors.pipeline.conversation import Conversation
from actors.pipeline.history import ChatHistory
from actors.pipeline.outbox import OutboxItem, StreamBreak, StreamEnd, next_batch
from actors.session.memory import release_free_memory
from actors.session.remote_stages import DeploymentStages
from config import Settings, tts_voices

log = logging.getLogger("avatar_chat.session")
PREFETCH_FRESH_S = 300.0  # the oldest catalog and voices (fetched at start) an attach may use
# What a catalog entry carries to the client (the Avatar deployment's ``catalog()``).
AVATAR_ENTRY_KEYS = ("name", "kind", "width", "height", "thumbnail", "idle", "default")


class Session:
    """Client messages -> events and media for one user (history, turns, cancellation).

    Its host calls its methods on the host's event loop; ``on_exit`` is called once, when
    the session is over (ended, retired or never used) and its tasks are cancelled.
    """

    def __init__(self, session_id: str, *, on_exit: Callable[[], None]) -> None:
        self.session_id = session_id
        self._on_exit = on_exit
        self._started = False
        self._generation = ""
        self._prefetch = None
        self._ended = False
        self._conn = 0  # connections attached so far
        self._tasks: set[asyncio.Task] = set()
        self._directory = self._store = None

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
        attaches within ``ttl_s``, so warm sessions of a pool that went away do not linger."""
        self._spawn(self._expire(ttl_s))
        return True

    async def _expire(self, ttl_s: float) -> None:
        await asyncio.sleep(ttl_s)
        if not self._conn:
            log.info("warm session %s was not used; ending it", self.session_id)
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
        generation: str = "",
    ) -> None:
        """Become the session: settings, deployment handles and the avatar's description.

        ``directory`` holds the session's admission slot (released when it ends); ``store``
        keeps its history beyond this process; ``restore``: its host was restarted after
        its process died, so the history comes back from ``store``; ``generation``: the
        version of the deployed code that started it (see ``retire``).
        """
        if self._started:
            raise RuntimeError(f"session {self.session_id} is already started")
        self._started = True
        session_id = self.session_id
        self.settings = Settings.load(settings)  # the API key comes from the environment
        self.info = info
        self._directory, self._store = directory, store
        self._generation = generation
        self._handles = handles
        history = ChatHistory(max_messages=self.settings.llm.max_history_messages)
        choices = SessionChoices()
        if restore and store is not None:
            saved = await store.get.remote(session_id)
            if saved:
                history = ChatHistory.from_dict(saved["history"])
                choices = SessionChoices.from_dict(saved.get("choices"))
            log.info("session=%s restored (%d messages)", session_id, len(history))
        self._options: ChoiceOptions | None = None
        self._avatar_entries: list[dict] = []
        self._chosen_info: AvatarInfo | None = info if choices.avatar is None else None
        self._configuring = asyncio.Lock()  # one choice at a time: each reads the last
        stages = DeploymentStages(
            tts=handles["tts"],
            avatar=handles["avatar"],
            settings=self.settings,
            avatar_info=info,
            session_id=session_id,
            choices=lambda: self.conv.choices,
        )
        from actors.session.metrics import record_turn

        # Built off the event loop: the first openai engine in a host imports the client
        # (about a second), which would hold up the other sessions' events meanwhile.
        llm = await asyncio.to_thread(llm_engines.create, self.settings.llm)
        self.conv = Conversation(
            session_id=session_id,
            llm=llm,
            pipeline=stages.pipeline(),
            history=history,
            max_queued=self.settings.server.max_queued_turns,
            on_turn_end=record_turn,
            on_turn_finished=self._save,
            choices=choices,
            base_persona=getattr(self.settings.llm, "persona", None),
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
            self.voice.language = choices.language
        self._voice_watch: asyncio.Task | None = None
        self._attached = False
        self._detached_at = time.monotonic()
        self._reaper: asyncio.Task | None = None
        if restore:
            self._reaper = self._spawn(self._reap())  # not resumed: ends after the grace
        # Asked now, while the actor waits (warm) for its connection: attach then answers
        # without two deployment round trips (see _fresh_offer).
        self._prefetch: asyncio.Task | None = self._spawn(self._timed_offer())
        self._spawn(asyncio.to_thread(release_free_memory))  # what start-up left behind

    def _save(self) -> None:
        """After every turn and choice: the history and the choices, to the store that
        outlives this process. Not awaited; calls from one actor to another run in order,
        so the last one wins."""
        if self._store is not None and not self._ended:
            state = {
                "history": self.conv.history.to_dict(),
                "choices": self.conv.choices.to_dict(),
            }
            self._store.put.remote(self.session_id, state)
        if not self._ended:  # a turn's frames and fragments are free now
            self._spawn(asyncio.to_thread(release_free_memory))

    async def attach(
        self, resumed: bool, choices: dict[str, str | None] | None = None
    ) -> tuple[int, SessionEvent] | None:
        """A connection takes over the session; returns its connection number (which its
        later calls carry) and the ``session`` event; None if the session has ended.

        ``choices`` (from the socket's query) apply to a new session before its ``session``
        event, as a ``configure`` message would (an error follows that event for a refused
        one); a resumed session keeps its own and ignores them."""
        if self._reaper is None:
            self._reaper = self._spawn(self._reap())
        if self._ended:
            return None
        self._conn += 1
        self._attached = True
        self.conv.put(StreamBreak())  # ends the previous connection's stream, if any
        self.conv.last_activity = time.monotonic()
        conn = self._conn
        async with self._configuring:
            options = self._options = await self._fresh_offer()
            if choices and not resumed:
                await self._apply(choices, None, announce=False)
            info = await self._current_info()
        s = self.settings
        event = SessionEvent(
            session_id=self.session_id,
            protocol=PROTOCOL_VERSION,
            resumed=resumed,
            history=self.conv.history.messages if resumed else [],
            avatar=info.to_dict(),
            voice_input=await self._voice_status(),
            llm={"offline": s.llm.stand_in, "model": s.llm.model_name},
            choices=self.conv.choices.to_wire(default_avatar=options.default_avatar),
            avatars=[e for e in self._avatar_entries if e["name"] in options.avatars],
            voices=options.wire_voices(),
            languages=options.wire_languages(),
            persona={"allowed": options.allow_persona, "max_chars": options.max_persona_chars},
            max_input_chars=s.text.max_input_chars,
        )
        return conn, event

    async def configure(
        self, conn: int, request: dict[str, str | None], client_id: str | None = None
    ) -> bool:
        """A ``configure`` message: the choices in ``request`` (shapes checked by the
        ingress), answered with ``configured``, or an ``error`` and no change."""
        if conn != self._conn or self._ended:
            return False
        async with self._configuring:
            if self._options is None:
                self._options = await self._offer()
            await self._apply(request, client_id, announce=True)
        return True

    async def _apply(self, request: dict, client_id: str | None, *, announce: bool) -> None:
        """Check ``request`` against the options and make it the session's choices (call
        with ``_configuring`` held); a refusal is an error event and changes nothing."""
        current = self.conv.choices
        try:
            new = choose(current, request, self._options)
        except ChoiceError as exc:
            self.conv.error(exc.code, str(exc), client_id=client_id)
            return
        info = self._chosen_info
        if new.avatar != current.avatar or info is None:
            try:
                info = await self._avatar_info(new.avatar)
            except Exception as exc:
                log.warning("session=%s avatar %r: %s", self.session_id, new.avatar, exc)
                self.conv.error(
                    ErrorCode.UNKNOWN_AVATAR,
                    "that avatar cannot be shown right now; nothing changed",
                    client_id=client_id,
                )
                return
        self.conv.choices, self._chosen_info = new, info
        if self.voice is not None:
            self.voice.language = new.language
        self._save()
        log.info(
            "session=%s choices: language=%s avatar=%s voice=%s persona=%s",
            self.session_id,
            new.language or "auto",
            new.avatar or "default",
            new.voice or "default",
            "own" if new.persona is not None else "server's",
        )
        if announce:
            wire = new.to_wire(default_avatar=self._options.default_avatar)
            self.conv.put(ConfiguredEvent(wire, info.to_dict(), client_id=client_id or None))

    @property
    def _deployment_timeout_s(self) -> float:
        # Asking the Avatar and TTS deployments what may be chosen, or for an avatar's info:
        # as patient as a session start, since a loaded node answers slowly and a shorter
        # wait would turn a slow answer into a refusal (or a one-avatar catalog).
        return self.settings.server.session_start_timeout_s

    async def _avatar_info(self, name: str | None) -> AvatarInfo:
        if name is None:
            return self.info
        return await asyncio.wait_for(
            self._handles["avatar"].info.remote(avatar=name), self._deployment_timeout_s
        )

    async def _current_info(self) -> AvatarInfo:
        """The chosen avatar's info (a restored session's is asked for once)."""
        if self._chosen_info is None:
            try:
                self._chosen_info = await self._avatar_info(self.conv.choices.avatar)
            except Exception as exc:
                log.warning("session=%s avatar unavailable: %s", self.session_id, exc)
                return self.info
        return self._chosen_info

    async def _timed_offer(self) -> tuple[float, ChoiceOptions]:
        return time.monotonic(), await self._offer()

    async def _fresh_offer(self) -> ChoiceOptions:
        """The offer fetched at start if it is still recent (PREFETCH_FRESH_S), else a new
        one: a resume or a late first connection sees the catalog as it is now."""
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:
            try:
                at, options = await prefetch
                if time.monotonic() - at < PREFETCH_FRESH_S:
                    return options
            except Exception:  # fetched again below, with its own error handling
                pass
        return await self._offer()

    async def _offer(self) -> ChoiceOptions:
        """What this session may choose now: the Avatar deployment's catalog and the TTS
        deployment's voices, narrowed by the ``choices`` settings."""
        entries, voices = await asyncio.gather(self._catalog(), self._voices())
        self._avatar_entries = entries
        default = next((e["name"] for e in entries if e.get("default")), None)
        return ChoiceOptions.offered(
            self.settings.choices,
            avatars=[e["name"] for e in entries],
            voices=voices,
            default_avatar=default,
        )

    async def _catalog(self) -> list[dict]:
        try:
            catalog = await asyncio.wait_for(
                self._handles["avatar"].catalog.remote(), self._deployment_timeout_s
            )
            entries = [
                {k: e.get(k) for k in AVATAR_ENTRY_KEYS}
                for e in catalog
                if isinstance(e, dict) and isinstance(e.get("name"), str)
            ]
        except Exception as exc:  # an Avatar deployment of one avatar, with no catalog
            log.debug("session=%s no avatar catalog (%s)", self.session_id, exc)
            entries = []
        if not entries:
            i = self.info  # the one avatar there is: the server's
            entry = {"name": i.name or i.kind, "kind": i.kind, "width": i.width}
            entries = [{**entry, "height": i.height, "thumbnail": None, "idle": None}]
            entries[0]["default"] = True
        return entries

    async def _voices(self) -> dict[str, list[str]]:
        try:
            call = self._handles["tts"].voices.remote()
            return await asyncio.wait_for(call, self._deployment_timeout_s)
        except Exception as exc:  # a TTS deployment that does not list them: the settings'
            log.debug("session=%s no voice list from TTS (%s)", self.session_id, exc)
            return tts_voices(self.settings.tts)

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

    async def generation(self) -> str:
        """The version of the deployed code that started this session."""
        return self._generation

    async def retire(self) -> None:
        """The application was redeployed: end this actor but keep the saved state, which
        an actor of the new code restores under the same session id."""
        await self.end("retired: the application was redeployed", keep_saved=True)

    async def end(self, reason: str = "closed", *, keep_saved: bool = False) -> None:
        """End the session: its streams close, its slot and saved state (unless
        ``keep_saved``) go, and it leaves its host (a host with none left exits)."""
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
            if self._store is not None and not keep_saved:
                await self._store.delete.remote(self.session_id)
        self._spawn(self._exit_soon())

    async def _exit_soon(self) -> None:
        await asyncio.sleep(0.5)  # let the last events reach the connection
        self._shutdown()

    def _shutdown(self) -> None:
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        on_exit, self._on_exit = self._on_exit, None
        if on_exit is not None:
            on_exit()

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


__all__ = ["DeploymentStages", "OutboxItem", "Session"]
