"""Batching a session's outgoing items, so each hop to the client carries several at once.

Every item a session yields crosses two Ray hops (session -> ingress -> proxy) before it
reaches the socket, and each hop costs about a millisecond of CPU in both processes. An LLM
streams ~20 tokens a second per session, so at many sessions the reply text alone kept both
cores busy. ``next_batch`` returns everything that is ready, and keeps a batch that holds only
reply text open for a short window; consecutive ``reply_delta`` events of a turn are merged.
Media and every other event close the batch at once: they are never held back.

An outbox holds ``OutboxItem``s only: server events (actors/core/events.py), ``MediaChunk``s
and the stream markers below. They cross Ray as they are (dataclasses pickle); the ingress
turns events into JSON just before the socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import get_args

from actors.core.events import ReplyDeltaEvent, ServerEvent
from actors.core.messages import MediaChunk

__all__ = [
    "turn_of",
    "OUTBOX_TYPES",
    "DroppedTurns",
    "OutboxItem",
    "StreamBreak",
    "StreamEnd",
    "merge_reply_deltas",
    "next_batch",
]


def merge_reply_deltas(items: list[OutboxItem]) -> list[OutboxItem]:
    """Adjacent ``reply_delta`` events of the same turn become one (their texts joined)."""
    out: list[OutboxItem] = []
    for item in items:
        prev = out[-1] if out else None
        if (
            isinstance(item, ReplyDeltaEvent)
            and isinstance(prev, ReplyDeltaEvent)
            and prev.turn_id == item.turn_id
        ):
            out[-1] = replace(prev, text=prev.text + item.text)
        else:
            out.append(item)
    return out


async def next_batch(
    queue: asyncio.Queue[OutboxItem],
    *,
    window_s: float,
    barrier: Callable[[OutboxItem], bool] = lambda _: False,
) -> list[OutboxItem]:
    """The next items of ``queue`` in order (at least one; waits for it).

    While the batch holds only ``reply_delta`` events it stays open up to ``window_s`` after
    its first item for more text; anything else arriving sends it at once. ``window_s`` 0:
    only what is already queued. An item for which ``barrier`` is true ends the batch: what
    follows it stays queued (e.g. for the next connection).
    """
    if window_s < 0:
        raise ValueError(f"window_s must be >= 0, got {window_s}")
    loop = asyncio.get_running_loop()
    batch = [await queue.get()]
    deadline = loop.time() + window_s if isinstance(batch[0], ReplyDeltaEvent) else None
    while not barrier(batch[-1]):
        try:
            item = queue.get_nowait()
        except asyncio.QueueEmpty:
            left = deadline - loop.time() if deadline is not None else 0.0
            if left <= 0:
                break
            try:
                item = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                break
        batch.append(item)
        if not isinstance(item, ReplyDeltaEvent):
            deadline = None  # send now, with whatever else is already queued
    return merge_reply_deltas(batch)


@dataclass(frozen=True, slots=True)
class StreamBreak:
    """Queued in a session's outbox to end the event stream of a connection that is no longer
    the session's (replaced, detached, or the session ended); what follows stays queued."""


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The last item a connection's event stream yields: why it ends.

    ``replaced``: another connection resumed the session; ``ended``: the session is over.
    """

    reason: str


OutboxItem = ServerEvent | MediaChunk | StreamBreak | StreamEnd
# For isinstance: what ``Conversation.put`` accepts (anything else is a bug, caught at once).
OUTBOX_TYPES: tuple[type, ...] = (*get_args(ServerEvent), MediaChunk, StreamBreak, StreamEnd)


def turn_of(item: OutboxItem) -> str | None:
    """The turn an outgoing item belongs to (None: not a turn's, e.g. a stream marker or a
    speech event)."""
    return getattr(item, "turn_id", None)


class DroppedTurns:
    """The turns an interrupt cut: their queued or in-flight items are dropped, not sent.

    One rule for both places that drop: the session's outbox on an interrupt, and the socket
    relay for what was already on its way when the interrupt came.
    """

    def __init__(self) -> None:
        self._turns: set[str] = set()

    def drop(self, turn_id: str | None) -> None:
        if turn_id:
            self._turns.add(turn_id)

    def keeps(self, item: OutboxItem) -> bool:
        """False for an item of a dropped turn; items of no turn are always kept."""
        turn = turn_of(item)
        return turn is None or turn not in self._turns

    def __contains__(self, turn_id: object) -> bool:
        return turn_id in self._turns
