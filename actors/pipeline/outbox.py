"""Batching a session's outgoing items, so each hop to the client carries several at once.

Every item a SessionActor yields crosses two Ray hops (session -> ingress -> proxy) before it
reaches the socket, and each hop costs about a millisecond of CPU in both processes. An LLM
streams ~20 tokens a second per session, so at many sessions the reply text alone kept both
cores busy. ``next_batch`` returns everything that is ready, and keeps a batch that holds only
reply text open for a short window; consecutive ``reply_delta`` events of a turn are merged.
Media and every other event close the batch at once: they are never held back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["StreamBreak", "StreamEnd", "merge_reply_deltas", "next_batch"]


def _is_delta(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") == "reply_delta"


def merge_reply_deltas(items: list[Any]) -> list[Any]:
    """Adjacent ``reply_delta`` events of the same turn become one (their texts joined)."""
    out: list[Any] = []
    for item in items:
        prev = out[-1] if out else None
        if _is_delta(item) and _is_delta(prev) and prev.get("turn_id") == item.get("turn_id"):
            out[-1] = {**prev, "text": prev["text"] + item["text"]}
        else:
            out.append(item)
    return out


async def next_batch(
    queue: asyncio.Queue, *, window_s: float, barrier: Callable[[Any], bool] = lambda _: False
) -> list[Any]:
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
    deadline = loop.time() + window_s if _is_delta(batch[0]) else None
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
        if not _is_delta(item):
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
