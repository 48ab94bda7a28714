"""Thousands of generated bad messages over ONE socket: each is answered, none kills it.

Messages come from a seeded generator (reproducible): random JSON values, lone surrogates
in every field, integers past Python's int-string limit, deep nesting, frames sized around
``server.max_text_message_bytes`` and texts around ``text.max_input_chars``, random
strings, odd-length and empty binary frames, and pings. The local parser decides what
each should get (an ``error`` with its code, or ``pong``); messages it would accept as a
turn or an interrupt, and valid audio, are not sent, since those get no one-to-one answer.
They go in rounds, each closed by a marker (an empty text with a unique ``id``, answered
``empty_text`` with that id), and paced under the per-socket message and byte limits.
"""

from __future__ import annotations

import asyncio
import json
import random
import time

import pytest
import websockets

from config import Settings
from serve_app.protocol import ProtocolError, check_audio, parse_client_text
from tests.serve_fixtures import DEFAULT_ARGS
from tests.ws_client import ChatClient

pytestmark = pytest.mark.integration

SETTINGS = Settings.load(DEFAULT_ARGS)  # the limits the test app runs with
MAX_CHARS = SETTINGS.text.max_input_chars
MAX_BYTES = SETTINGS.server.max_text_message_bytes
MSG_RATE, BYTE_RATE = SETTINGS.server.max_messages_per_s, SETTINGS.server.max_bytes_per_s
ROUNDS, PER_ROUND = 42, 50  # 2100 messages
CHARS = "aZ 9\t\n\x00\x07\x1b\u200b\u200d\u202e\u2028é中ع\U0001f600\ufeff\uffff"
SURROGATES = "\ud800\udbff\udc00\udfff"


class Fuzz:
    """``next() -> (label, frame)``; frames are str (text) or bytes (binary)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.makers = [
            (30, "json_value", lambda: json.dumps(self.value(0))),
            (20, "shaped", self.shaped),
            (8, "huge_int", self.huge_int),
            (4, "deep_nesting", lambda: "[" * self.rng.randint(900, 8000)),
            (8, "sized_bytes", self.sized_bytes),
            (5, "sized_chars", self.sized_chars),
            (8, "raw_string", lambda: self.string(self.rng.randint(0, 200), surrogates=False)),
            (5, "decoded_bytes", lambda: self.bytes(300).decode("utf-8", "replace")),
            (6, "odd_binary", lambda: self.bytes(1300, odd=True)),
            (2, "empty_binary", lambda: b""),
            (2, "empty_text", lambda: ""),
            (4, "ping", lambda: json.dumps({"type": "ping", "x": self.value(1)})),
        ]
        self.weights = [w for w, _, _ in self.makers]

    def next(self) -> tuple[str, str | bytes]:
        _, label, make = self.rng.choices(self.makers, self.weights)[0]
        if self.rng.random() < 0.002:  # a very rare ~1 MB frame, still under 1 MiB
            return "megabyte", json.dumps({"type": "text", "text": "word " * 200_000})
        return label, make()

    def string(self, n: int, *, surrogates: bool = True) -> str:
        pool = CHARS + (SURROGATES if surrogates else "")
        return "".join(self.rng.choice(pool) for _ in range(n))

    def bytes(self, most: int, *, odd: bool = False) -> bytes:
        n = self.rng.randrange(1, most, 2) if odd else self.rng.randint(0, most)
        return self.rng.randbytes(n)

    def value(self, depth: int):
        r = self.rng.random()
        if depth < 3 and r < 0.2:
            return [self.value(depth + 1) for _ in range(self.rng.randint(0, 4))]
        if depth < 3 and r < 0.35:
            return {self.string(3): self.value(depth + 1) for _ in range(self.rng.randint(0, 4))}
        return self.rng.choice(
            [None, True, False, 0, -1, 10**30, 1e308, -0.0, float("inf"), float("nan")]
            + [self.rng.randint(-(10**9), 10**9), self.string(self.rng.randint(0, 30))]
        )

    def shaped(self) -> str:
        kind = self.rng.choice(["text", "text", "ping", "interrupt", self.string(5), 7, None])
        message = {"type": kind, "text": self.rng.choice([self.string(20), self.value(1)])}
        if self.rng.random() < 0.7:
            message["id"] = self.rng.choice([self.string(self.rng.randint(0, 70)), self.value(1)])
        return json.dumps(message)  # ensure_ascii: lone surrogates travel as \\udXXX escapes

    def huge_int(self) -> str:
        digits = "1" * self.rng.randint(4301, 12000)
        return self.rng.choice(
            [
                '{"type":"text","text":"hi","id":1' + digits + "}",
                '{"type":"text","text":' + digits + "}",
                '{"type":"ping","n":[' + digits + "]}",
                digits,
            ]
        )

    def sized_bytes(self) -> str:
        """A frame of exactly max_bytes - 1, + 0 or + 1 UTF-8 bytes."""
        target = MAX_BYTES + self.rng.choice([-1, 0, 1])
        pad = self.rng.choice(["a", "é", "中", "\U0001f600"])
        head = '{"type":"' + self.rng.choice(["ping", "text", "nope"]) + '","text":"'
        body = pad * ((target - len(head) - 2) // len(pad.encode()))
        raw = head + body + '"}'
        return raw[:-2] + "a" * (target - len(raw.encode())) + '"}'

    def sized_chars(self) -> str:
        """Text of max_chars - 1, + 0 or + 1 characters; one that fits gets a bad id."""
        delta = self.rng.choice([-1, 0, 1])
        message = {"type": "text", "text": "x" * (MAX_CHARS + delta)}
        if delta <= 0:
            message["id"] = self.rng.choice(["y" * 65, "ok\ud800", ""])
        return json.dumps(message)


def expected_answer(frame: str | bytes) -> str | None:
    """'pong', 'error:CODE', or None for a frame that gets no one-to-one answer."""
    try:
        if isinstance(frame, bytes):
            check_audio(frame)
            return None  # valid audio is consumed silently
        msg = parse_client_text(frame, max_chars=MAX_CHARS, max_bytes=MAX_BYTES)
    except ProtocolError as exc:
        return f"error:{exc.code}"
    return "pong" if msg.type == "ping" else None


def rounds(seed: int):
    fuzz = Fuzz(seed)
    for _ in range(ROUNDS):
        batch = []
        while len(batch) < PER_ROUND:
            label, frame = fuzz.next()
            expected = expected_answer(frame)
            if expected is not None:
                batch.append((label, frame, expected))
        yield batch


def answer_of(event: dict) -> str:
    return "pong" if event["type"] == "pong" else f"{event['type']}:{event.get('code')}"


async def answers_until(c: ChatClient, marker: str) -> list[str]:
    got, deadline = [], time.monotonic() + 60
    while True:
        item = await c.recv(max(0.1, deadline - time.monotonic()))
        if item.event is None:
            got.append("media")
        elif item.event.get("id") == marker and item.event.get("code") == "empty_text":
            return got
        elif item.event["type"] != "voice_input":  # the ASR finishing its load: not an answer
            got.append(answer_of(item.event))


def mismatches(batch: list, got: list[str]) -> list[str]:
    """Walk messages and answers in order (the server answers in order)."""
    out, i = [], 0
    for label, frame, expected in batch:
        answer = got[i] if i < len(got) else None
        if answer in (expected, "error:rate_limited"):
            i += 1
        else:
            out.append(f"{label} {frame[:60]!r}: expected {expected}, got {answer}")
    out += [f"unexpected answer {a}" for a in got[i:]]
    return out


async def test_thousands_of_fuzzed_messages_are_each_answered_on_one_socket(app_url):
    failures, sent, rate_limited = [], 0, 0
    async with ChatClient(app_url) as c:
        for n, batch in enumerate(rounds(seed=20240611)):
            started, size = time.monotonic(), 0
            marker = f"fuzz-round-{n}"
            try:
                for _, frame, _ in batch:
                    await c.send(frame)
                    length = len(frame) if isinstance(frame, bytes) else len(frame.encode())
                    size += length if length <= BYTE_RATE else 0  # bigger: never let in
                await c.send({"type": "text", "text": "", "id": marker})
                got = await answers_until(c, marker)
            except websockets.ConnectionClosed as exc:
                pytest.fail(f"round {n}: socket closed ({exc.rcvd}); earlier: {failures[:5]}")
            except TimeoutError:
                pytest.fail(f"round {n}: its marker got no answer in 60 s; earlier: {failures[:5]}")
            failures += mismatches(batch, got)
            sent += len(batch)
            rate_limited += got.count("error:rate_limited")
            # Stay under the message and byte budgets, so rate_limited answers stay rare.
            pause = max((len(batch) + 1) / (0.8 * MSG_RATE), size / (0.8 * BYTE_RATE))
            await asyncio.sleep(max(0.0, started + pause - time.monotonic()))
        assert sent >= 2000
        assert not failures, f"{len(failures)} of {sent} messages misanswered: {failures[:20]}"
        assert rate_limited < sent // 20
        await c.ask("Hello.")  # the session is still usable
        turn = await c.until("turn_end", timeout=120)
        assert turn.of_type("turn_end")[0]["text"]
