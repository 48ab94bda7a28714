"""A small WebSocket client for tests and benchmarks: send messages, collect a turn."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import websockets

from serve_app.protocol import unframe_media


@dataclass
class Received:
    """One message from the server with its arrival time (perf_counter seconds)."""

    at: float
    event: dict | None = None
    header: dict | None = None
    payload: bytes = b""

    @property
    def is_media(self) -> bool:
        return self.header is not None


@dataclass
class Turn:
    items: list[Received] = field(default_factory=list)

    @property
    def events(self) -> list[dict]:
        return [r.event for r in self.items if r.event is not None]

    @property
    def media(self) -> list[Received]:
        return [r for r in self.items if r.is_media]

    def of_type(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["type"] == kind]

    def mp4(self) -> bytes:
        return b"".join(r.payload for r in self.media)


class ChatClient:
    """``async with ChatClient(url) as c``: the ``session`` event is in ``c.hello``."""

    def __init__(
        self, base_url: str, *, session_id: str | None = None, headers: dict | None = None
    ) -> None:
        self.url = base_url.replace("http://", "ws://") + "/ws"
        if session_id:
            self.url += f"?session={session_id}"
        self.headers = headers or {}
        self.ws = None
        self.hello: dict = {}
        self.pre_hello: list[dict] = []

    async def __aenter__(self) -> ChatClient:
        self.ws = await websockets.connect(
            self.url, max_size=None, open_timeout=60, additional_headers=self.headers
        )
        try:
            while True:  # a new SessionActor can take many seconds to start on a busy machine
                event = json.loads(await asyncio.wait_for(self.ws.recv(), 120))
                if event["type"] == "session":
                    self.hello = event
                    return self
                self.pre_hello.append(event)
        except BaseException:
            await self.ws.close()  # never leave a half-open session holding a slot
            raise

    async def __aexit__(self, *exc) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def send(self, message: dict | bytes | str) -> None:
        await self.ws.send(json.dumps(message) if isinstance(message, dict) else message)

    async def ask(self, text: str) -> None:
        await self.send({"type": "text", "text": text})

    async def recv(self, timeout: float = 30.0) -> Received:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        now = time.perf_counter()
        if isinstance(raw, bytes):
            header, payload = unframe_media(raw)
            return Received(now, header=header, payload=payload)
        return Received(now, event=json.loads(raw))

    async def until(self, kind: str, timeout: float = 60.0) -> Turn:
        """Collect everything up to and including the first event of type ``kind``."""
        return await self.until_any((kind,), timeout)

    async def until_any(self, kinds: tuple[str, ...], timeout: float = 60.0) -> Turn:
        """Collect everything up to and including the first event of one of ``kinds``."""
        turn = Turn()
        deadline = time.monotonic() + timeout
        while True:
            item = await self.recv(max(0.1, deadline - time.monotonic()))
            turn.items.append(item)
            if item.event is not None and item.event["type"] in kinds:
                return turn

    async def drain(self, quiet_s: float = 0.5) -> list[Received]:
        """Everything that arrives until the socket is quiet for ``quiet_s``."""
        got = []
        while True:
            try:
                got.append(await self.recv(quiet_s))
            except TimeoutError:
                return got
