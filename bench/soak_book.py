"""One soak session's bookkeeping: which texts are in flight, what each action expects back,
and which server messages are unexpected. No sockets here: the session driver feeds it.

Rules (docs/protocol.md): turns run one at a time in the order their texts were accepted,
so a ``turn_start`` of turn tN ends every earlier turn; a text may be refused with ``busy``
only when two or more of this client's texts were already in flight (one running, one
queued); an ``error`` without a turn is expected only when an action registered its code; a
socket the client closed *abandons* its texts, whose later events (or silence) are tolerated.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

DONE = frozenset({"ended", "interrupted", "refused", "failed", "superseded"})
OK_INTERRUPT_REASONS = frozenset({"client", "disconnected"})
QUIET_EVENTS = frozenset({"reply_delta", "sentence"})
_TURN = re.compile(r"^t(\d+)$")
KEEP_DONE = 64  # finished texts remembered, for late events such as a playback `interrupted`


def turn_number(turn_id: str | None) -> int:
    m = _TURN.match(turn_id or "")
    return int(m[1]) if m else -1


@dataclass
class Text:
    """A text message this client sent; times are ``time.perf_counter()`` seconds."""

    client_id: str
    sent: float
    clean: bool  # nothing else was in flight: its first-media latency is a figure
    busy_ok: bool  # two or more texts were in flight: the server may refuse it
    turn_id: str | None = None
    first_media: float = float("nan")
    state: str = "sent"  # sent, running, then one of DONE
    abandoned: bool = False  # its socket was closed while it was in flight

    @property
    def done(self) -> bool:
        return self.state in DONE


@dataclass
class Expectation:
    codes: frozenset[str]
    met: bool = False


@dataclass
class Book:
    texts: dict[str, Text] = field(default_factory=dict)  # by client id, in send order
    expected: list[Expectation] = field(default_factory=list)
    pongs_due: int = 0
    unexpected: list[str] = field(default_factory=list)
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (sent, seconds)
    counts: Counter = field(default_factory=Counter)

    def in_flight(self, *, abandoned: bool = True) -> int:
        return sum(not t.done and (abandoned or not t.abandoned) for t in self.texts.values())

    def settled(self) -> bool:
        """Nothing of this connection is outstanding (abandoned texts aside)."""
        return not self.in_flight(abandoned=False) and not self.expected and not self.pongs_due

    def sent_text(self, client_id: str, now: float, *, measure: bool = True) -> Text:
        n = self.in_flight()
        text = Text(client_id, now, clean=measure and n == 0, busy_ok=n >= 2)
        self.texts[client_id] = text
        done = [k for k, t in self.texts.items() if t.done]
        for k in done[: max(0, len(done) - KEEP_DONE)]:
            del self.texts[k]
        return text

    def expect(self, codes: set[str] | frozenset[str]) -> Expectation:
        exp = Expectation(frozenset(codes))
        self.expected.append(exp)
        return exp

    def reconnected(self) -> None:
        """The client closed its socket: what was in flight is abandoned."""
        for text in self.texts.values():
            text.abandoned |= not text.done
        self.expected.clear()
        self.pongs_due = 0

    def flag(self, what: str) -> None:
        self.unexpected.append(what)

    def on_media(self, header: dict, now: float) -> None:
        text = self._of_turn(header.get("turn_id"), "media")
        if text is not None and text.first_media != text.first_media:
            text.first_media = now

    def on_event(self, event: dict, now: float) -> None:
        kind, turn_id = event.get("type"), event.get("turn_id")
        if kind == "turn_start":
            self._started(event.get("id"), turn_id)
        elif kind in QUIET_EVENTS:
            self._of_turn(turn_id, kind)
        elif kind == "turn_end":
            text = self._of_turn(turn_id, kind)
            if text is not None:
                text.state = "ended"
                self.counts["turns"] += 1
                if text.clean and text.first_media == text.first_media:
                    self.latencies.append((text.sent, text.first_media - text.sent))
        elif kind == "interrupted":
            self._interrupted(turn_id, event.get("reason"))
        elif kind == "error":
            self._error(event)
        elif kind == "pong" and self.pongs_due:
            self.pongs_due -= 1
        elif kind != "voice_input":  # the ASR finished loading: harmless news
            self.flag(f"unexpected event {kind!r}")

    def _started(self, client_id: str | None, turn_id: str | None) -> None:
        text = self.texts.get(client_id or "")
        if text is None or text.done:
            self.flag(f"turn_start {turn_id} for text {client_id!r}, which is not in flight")
            return
        text.turn_id, text.state = turn_id, "running"
        n = turn_number(turn_id)
        for other in self.texts.values():
            if other is text or other.done:
                continue
            earlier = other.turn_id is not None and turn_number(other.turn_id) < n
            unstarted_before = other.turn_id is None and other.sent < text.sent
            if earlier or unstarted_before:
                if not other.abandoned:
                    self.flag(f"text {other.client_id} ({other.turn_id}) got no end before {n}")
                other.state = "superseded"

    def _interrupted(self, turn_id: str | None, reason: str | None) -> None:
        if reason not in OK_INTERRUPT_REASONS:
            self.flag(f"interrupted {turn_id} for reason {reason!r}")
        text = self._find_turn(turn_id)
        if text is None:  # cut while queued, its turn_start purged: the oldest unstarted text
            text = next((t for t in self.texts.values() if not t.done and not t.turn_id), None)
            if text is None:
                self._stray("interrupted", turn_id)
                return
            text.turn_id = turn_id
        if not text.done:
            text.state = "interrupted"
            self.counts["interrupted"] += 1

    def _error(self, event: dict) -> None:
        code, client_id, turn_id = event.get("code"), event.get("id"), event.get("turn_id")
        if code == "busy":
            text = self.texts.get(client_id or "")
            if text is not None and text.busy_ok and text.turn_id is None and not text.done:
                text.state = "refused"
                self.counts["busy"] += 1
                return
        elif turn_id is None:
            for exp in self.expected:
                if code in exp.codes:
                    exp.met = True
                    self.expected.remove(exp)
                    self.counts[f"error:{code}"] += 1
                    return
        else:
            text = self._find_turn(turn_id)
            if text is not None:
                text.state = "failed"
        where = "".join(f", {k} {v}" for k, v in (("turn", turn_id), ("id", client_id)) if v)
        self.flag(f"error {code!r}{where}: {event.get('message')}")

    def _find_turn(self, turn_id: str | None) -> Text | None:
        return next((t for t in self.texts.values() if t.turn_id == turn_id), None)

    def _of_turn(self, turn_id: str | None, kind: str) -> Text | None:
        """The running text of ``turn_id``; anything else is flagged unless abandoned."""
        text = self._find_turn(turn_id)
        if text is None:
            self._stray(kind, turn_id)
        elif text.done and not text.abandoned:
            self.flag(f"{kind} of {turn_id} after it was {text.state}")
        return text if text is not None and not text.done else None

    def _stray(self, kind: str, turn_id: str | None) -> None:
        # After a reconnect the resumed stream may carry the rest of an abandoned turn.
        if any(t.abandoned for t in self.texts.values()):
            self.counts["stray"] += 1
        else:
            self.flag(f"{kind} of unknown turn {turn_id}")
