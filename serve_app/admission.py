"""Who gets a session slot: capacity, per-client shares and connection rates (no Ray here).

The rules, in order, for a new session of client ``c``:

1. ``c`` may open at most ``connects_per_minute`` connections in any sliding minute.
2. ``c`` may hold at most ``per_client`` sessions; at its limit, ``c``'s own session that has
   been detached (no socket) longest makes room, and if all of them are attached, ``c`` is
   refused: one client cannot take more than its share.
3. The server holds at most ``capacity`` sessions; when full, the session detached longest
   (anyone's) makes room. An attached session is never evicted, so a full server of people
   who are connected refuses the newcomer.

A detached session waits for its client to resume it; it never keeps a new user out.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from actors.core.errors import ErrorCode


@dataclass(slots=True)
class _Slot:
    client: str
    attached: bool = True
    detached_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Decision:
    """``admitted``; else ``code`` and ``reason`` (a plain sentence for the client).

    ``evict``: sessions the caller must end, since their slots went to this one.
    """

    admitted: bool
    evict: tuple[str, ...] = ()
    code: ErrorCode | None = None
    reason: str = ""


@dataclass(slots=True)
class Admission:
    """Session slots of one application; the caller supplies the clock."""

    capacity: int
    per_client: int
    connects_per_minute: int
    clock: Callable[[], float] = time.monotonic
    _slots: dict[str, _Slot] = field(default_factory=dict)
    _connects: dict[str, deque[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("capacity", "per_client", "connects_per_minute"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def connect(self, client: str) -> Decision:
        """A new socket from ``client`` (before any session is chosen)."""
        now = self.clock()
        times = self._connects.setdefault(client, deque())
        while times and times[0] <= now - 60.0:
            times.popleft()
        if len(times) >= self.connects_per_minute:
            return Decision(
                False,
                code=ErrorCode.TOO_MANY_CONNECTIONS,
                reason="too many new connections from your address; please wait a minute",
            )
        times.append(now)
        self._forget_quiet_clients(now)
        return Decision(True)

    def admit(self, session_id: str, client: str) -> Decision:
        """A slot for a new session, attached from the start."""
        if session_id in self._slots:
            self.attached(session_id)
            return Decision(True)
        evict: list[str] = []
        mine = [sid for sid, slot in self._slots.items() if slot.client == client]
        if len(mine) >= self.per_client:
            victim = self._longest_detached(mine)
            if victim is None:
                return Decision(
                    False,
                    code=ErrorCode.CAPACITY,
                    reason=f"you already have {len(mine)} sessions open, the most one client "
                    "may have; close one and try again",
                )
            evict.append(victim)
        elif len(self._slots) >= self.capacity:
            victim = self._longest_detached(list(self._slots))
            if victim is None:
                return Decision(
                    False,
                    code=ErrorCode.CAPACITY,
                    reason="the server is at capacity; please try again later",
                )
            evict.append(victim)
        for sid in evict:
            del self._slots[sid]
        self._slots[session_id] = _Slot(client)
        return Decision(True, evict=tuple(evict))

    def attached(self, session_id: str) -> bool:
        """A socket took the session (a resume); False if the session has no slot."""
        slot = self._slots.get(session_id)
        if slot is not None:
            slot.attached = True
        return slot is not None

    def detached(self, session_id: str) -> None:
        slot = self._slots.get(session_id)
        if slot is not None and slot.attached:
            slot.attached, slot.detached_at = False, self.clock()

    def has_socket(self, session_id: str) -> bool:
        """Whether a socket holds the session now (False once it has detached, or has no slot)."""
        slot = self._slots.get(session_id)
        return slot is not None and slot.attached

    def release(self, session_id: str) -> None:
        self._slots.pop(session_id, None)

    def sessions(self) -> list[str]:
        return list(self._slots)

    def count(self) -> int:
        return len(self._slots)

    def _longest_detached(self, candidates: list[str]) -> str | None:
        detached = [sid for sid in candidates if not self._slots[sid].attached]
        return min(detached, key=lambda sid: self._slots[sid].detached_at, default=None)

    def _forget_quiet_clients(self, now: float) -> None:
        # Bounded memory under address churn: a client with no connection in a minute is
        # forgotten.
        if len(self._connects) > 4 * self.capacity + 64:
            for client in [c for c, t in self._connects.items() if not t or t[-1] <= now - 60]:
                del self._connects[client]


__all__ = ["Admission", "Decision"]
