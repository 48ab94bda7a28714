"""A soak session's socket: open or resume it, read it into the session's Book, and wait on
what arrives. Reconnects are always client-side: the old socket is closed (and its reader
done) before the resume, so the server never has two sockets of one session from us.
"""

from __future__ import annotations

import asyncio
import json
import time

import websockets

from bench.soak_book import Book
from serve_app.protocol import unframe_media
from tests.ws_client import ChatClient


class Trouble(Exception):
    """A wait that failed; already flagged in the book unless ``flag``."""

    def __init__(self, message: str, *, flag: bool = True) -> None:
        super().__init__(message)
        self.flag = flag


class SoakSocket:
    """One conversation over one socket at a time; ``book`` sees every server message."""

    def __init__(self, base_url: str, *, wait_s: float = 180.0) -> None:
        self.base, self.wait_s = base_url, wait_s
        self.book = Book()
        self.session_id: str | None = None
        self.client: ChatClient | None = None
        self._reader: asyncio.Task | None = None
        self._closing = False
        self._changed = asyncio.Condition()

    async def open(self, session_id: str | None = None) -> None:
        client = ChatClient(self.base, session_id=session_id)
        await client.__aenter__()
        now = time.perf_counter()
        for event in client.pre_hello:
            self.book.on_event(event, now)
        hello = client.hello
        if session_id and (not hello.get("resumed") or hello.get("session_id") != session_id):
            self.book.flag(f"resume of {session_id} gave session {hello.get('session_id')}")
        self.session_id, self.client, self._closing = hello["session_id"], client, False
        self._reader = asyncio.create_task(self._read(client))

    async def close(self) -> None:
        self._closing = True
        if self.client is not None:
            await self.client.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def resume(self) -> None:
        """Close this socket (if open), then resume the session on a new one; if that
        fails, start a new session (flagged: the conversation is lost)."""
        await self.close()
        self.book.reconnected()
        self.book.counts["reconnects"] += 1
        try:
            await self.open(self.session_id)
        except Exception as exc:
            self.book.flag(f"resume of {self.session_id}: {type(exc).__name__}: {exc}")
            await self.open()

    async def wait(self, done, what: str) -> None:
        """Until ``done()``; gives up (Trouble) on a timeout, a lost socket or anything
        unexpected meanwhile, since the session's state may then be out of step."""
        reader, flagged = self._reader, len(self.book.unexpected)

        def ready() -> bool:
            return done() or reader is None or reader.done() or len(self.book.unexpected) > flagged

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(ready), self.wait_s)
            except TimeoutError:
                raise Trouble(f"no {what} within {self.wait_s:.0f} s") from None
        if not done():
            raise Trouble(f"gave up waiting for {what}", flag=False)

    async def _read(self, client: ChatClient) -> None:
        try:
            while True:
                raw = await client.ws.recv()
                now = time.perf_counter()
                if isinstance(raw, bytes):
                    self.book.on_media(unframe_media(raw)[0], now)
                else:
                    self.book.on_event(json.loads(raw), now)
                async with self._changed:
                    self._changed.notify_all()
        except websockets.ConnectionClosed as exc:
            if not self._closing:
                code = exc.rcvd.code if exc.rcvd else None
                self.book.flag(f"the server closed the socket (code {code})")
        except Exception as exc:
            self.book.flag(f"reading the socket: {type(exc).__name__}: {exc}")
        finally:
            async with self._changed:
                self._changed.notify_all()
