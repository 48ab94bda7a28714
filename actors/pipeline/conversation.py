"""A conversation's state machine, independent of Ray and of the socket.

``text / interrupt -> events + MediaChunk`` into an outbox. The session
wraps one of these; tests and notebooks can drive it directly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from actors.core.errors import ErrorCode, InterruptReason
from actors.core.events import (
    ErrorEvent,
    InterruptedEvent,
    ReplyDeltaEvent,
    SentenceEvent,
    TurnEndEvent,
    TurnStartEvent,
)
from actors.core.messages import MediaChunk, TextDelta, Transcript
from actors.pipeline.choices import SessionChoices, system_prompt
from actors.pipeline.history import ChatHistory, record_reply
from actors.pipeline.outbox import OUTBOX_TYPES, DroppedTurns, OutboxItem
from actors.pipeline.turn import TurnPipeline
from actors.pipeline.turn_events import SentenceStarted, TurnDone, TurnFailed

if TYPE_CHECKING:  # importing an engine package loads its client library (openai)
    from actors.engines.llm.base import LLM

log = logging.getLogger("avatar_chat.session")
STALL_WARN_S = 0.5  # a reply's client waited this long in all for media: worth an operator's look


class Conversation:
    """``user text -> reply events``: history, the running turn, queued turns, cancellation.

    One turn runs at a time; up to ``max_queued`` more texts wait their turn and
    further ones are refused with ``busy``. ``interrupt()`` cancels the running
    turn as one unit and removes its undelivered events from the outbox.
    """

    def __init__(
        self,
        *,
        session_id: str,
        llm: LLM,
        pipeline: TurnPipeline,
        history: ChatHistory | None = None,
        max_queued: int = 1,
        on_turn_end: Callable[[dict[str, float]], None] | None = None,
        on_turn_finished: Callable[[], None] | None = None,
        choices: SessionChoices | None = None,
        base_persona: str | None = None,
    ) -> None:
        """``on_turn_end(timings)`` follows a completed turn; ``on_turn_finished()`` follows
        every turn however it ended (done, failed, interrupted), once its history is final.

        ``choices`` (the session's; changed between turns by setting the attribute) are read
        when a turn starts: its persona and language make the system prompt, with
        ``base_persona`` (the server's) where the session has no persona of its own."""
        if max_queued < 0:
            raise ValueError(f"max_queued must be >= 0, got {max_queued}")
        self.session_id = session_id
        self.history = history if history is not None else ChatHistory()
        self.outbox: asyncio.Queue[OutboxItem] = asyncio.Queue()
        self._llm = llm
        self._pipeline = pipeline
        self._max_queued = max_queued
        self._on_turn_end = on_turn_end
        self._on_turn_finished = on_turn_finished
        self.choices = choices if choices is not None else SessionChoices()
        self._base_persona = base_persona
        self._waiting: deque[tuple[str, str, str | None]] = deque()
        self._turn_task: asyncio.Task | None = None
        self._turn_id: str | None = None
        self._turns = 0
        self._last_turn: str | None = None
        self._playback_end = 0.0  # when the client will have played the media sent so far
        self.last_activity = time.monotonic()

    @property
    def current_turn(self) -> str | None:
        return self._turn_id

    @property
    def busy(self) -> bool:
        return self._turn_task is not None and not self._turn_task.done()

    @property
    def talking(self) -> bool:
        """A reply is being produced, or the client is still playing one."""
        return self.busy or time.monotonic() < self._playback_end

    def put(self, item: OutboxItem) -> None:
        """Queue ``item`` for the client; only typed items (``OUTBOX_TYPES``) are accepted."""
        if not isinstance(item, OUTBOX_TYPES):
            raise TypeError(f"the outbox takes events, media and markers, not {type(item)!r}")
        self.outbox.put_nowait(item)

    def error(
        self,
        code: ErrorCode,
        message: str,
        turn_id: str | None = None,
        client_id: str | None = None,
    ) -> None:
        # Empty ids are as good as none: the event then carries no turn_id / id at all.
        self.put(ErrorEvent(code, message, turn_id=turn_id or None, client_id=client_id or None))

    def submit_text(self, text: str, client_id: str | None = None) -> str | None:
        """Start a turn for ``text`` (already validated), or queue it; returns its turn id.

        ``client_id`` (the client's optional message id) is echoed in the turn's
        ``turn_start`` or in the ``busy`` refusal, so a client knows which text it was.
        """
        self.last_activity = time.monotonic()
        if self.busy and len(self._waiting) >= self._max_queued:
            msg = "a reply is running and the queue is full; interrupt it first"
            self.error(ErrorCode.BUSY, msg, client_id=client_id)
            return None
        self._turns += 1
        turn_id = f"t{self._turns}"
        self._waiting.append((turn_id, text, client_id))
        if not self.busy:
            self._turn_task = asyncio.create_task(self._run_waiting())
        return turn_id

    async def interrupt(self, reason: InterruptReason = InterruptReason.CLIENT) -> str | None:
        """Cancel the running turn; returns its id, or None when nothing was running.

        Not activity: a client that only interrupts is as idle as one that sends nothing.
        """
        task, turn_id = self._turn_task, self._turn_id
        if task is None or task.done() or turn_id is None:
            if time.monotonic() < self._playback_end and self._last_turn:
                # Everything is sent but still playing: the client flushes what it queued.
                self._playback_end = 0.0
                self.put(InterruptedEvent(self._last_turn, reason))
                return self._last_turn
            return None
        self._turn_id = None
        self._playback_end = 0.0
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        self._purge(turn_id)
        self.put(InterruptedEvent(turn_id, reason))
        log.info("session=%s turn=%s interrupted (%s)", self.session_id, turn_id, reason)
        if self._waiting:  # queued texts still get their replies
            self._turn_task = asyncio.create_task(self._run_waiting())
        return turn_id

    async def close(self) -> None:
        self._waiting.clear()
        if self._turn_task is not None:
            self._turn_task.cancel()
            await asyncio.gather(self._turn_task, return_exceptions=True)

    def _purge(self, turn_id: str) -> None:
        cut = DroppedTurns()
        cut.drop(turn_id)
        queued = [self.outbox.get_nowait() for _ in range(self.outbox.qsize())]
        for item in queued:
            if cut.keeps(item):
                self.outbox.put_nowait(item)

    async def _run_waiting(self) -> None:
        while self._waiting:
            turn_id, text, client_id = self._waiting.popleft()
            self._turn_id = self._last_turn = turn_id
            try:
                await self._run_turn(turn_id, text, client_id)
            finally:
                self._turn_id = None
                if self._on_turn_finished is not None:
                    self._on_turn_finished()

    async def _run_turn(self, turn_id: str, text: str, client_id: str | None) -> None:
        t0 = time.perf_counter()
        self.put(TurnStartEvent(turn_id, text, client_id=client_id or None))
        log.info("session=%s turn=%s started (%d chars)", self.session_id, turn_id, len(text))
        # The engine only reads the history; the exchange is recorded here, as it streams.
        persona = system_prompt(self.choices, self._base_persona)
        options = {} if persona is None else {"persona": persona}
        reply = self._llm.stream(self.history, Transcript(text), **options)
        source = record_reply(text, self.history, reply)
        first_media: float | None = None
        try:
            async for ev in self._pipeline.run(source, turn_id=turn_id):
                if isinstance(ev, MediaChunk):
                    self.put(replace(ev, turn_id=turn_id))
                elif isinstance(ev, TextDelta):
                    self.put(ReplyDeltaEvent(turn_id, ev.text))
                elif isinstance(ev, SentenceStarted):
                    first_media = first_media or time.monotonic()
                    self._playback_end = first_media + ev.start_s + ev.duration_s
                    self.put(_sentence_event(turn_id, ev))
                elif isinstance(ev, TurnFailed):
                    self.error(ev.code, ev.message, turn_id)
                elif isinstance(ev, TurnDone):
                    timings = {k: round(v, 4) for k, v in ev.timings.seconds.items()}
                    timings["total"] = round(time.perf_counter() - t0, 4)
                    self.put(TurnEndEvent(turn_id, ev.text, round(ev.media_s, 4), timings))
                    if timings.get("stalled", 0.0) >= STALL_WARN_S:
                        log.warning(
                            "session=%s turn=%s media came %.1f s behind real time: the Avatar "
                            "(LipSync) deployments need more CPU or a GPU",
                            self.session_id,
                            turn_id,
                            timings["stalled"],
                        )
                    if self._on_turn_end is not None:
                        self._on_turn_end(timings)
        except Exception as exc:  # a bug in a stage must not kill the session
            log.exception("session=%s turn=%s failed", self.session_id, turn_id)
            self.error(ErrorCode.INTERNAL, f"the reply failed: {type(exc).__name__}", turn_id)
        self.last_activity = time.monotonic()


def _sentence_event(turn_id: str, ev: SentenceStarted) -> SentenceEvent:
    return SentenceEvent(
        turn_id,
        seq=ev.sentence.index,
        text=ev.sentence.text,
        start_s=round(ev.start_s, 4),
        duration_s=round(ev.duration_s, 4),
    )
