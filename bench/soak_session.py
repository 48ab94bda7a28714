"""One soak session: a seeded loop of actions on one conversation, over one socket at a time.

Actions (weights in ACTIONS): a typed turn; a turn interrupted after its first media; three
texts at once (the third may be refused ``busy``), the first maybe interrupted; a bad frame
(from BAD_FRAMES, alone or during a reply) that must get its error code; a reconnect (close
the socket, from idle or mid-reply, and resume with ``?session=ID``); a ping. Between actions
the session thinks for a random short while. Every wait is on the server's messages, with a
generous timeout; a timeout or a lost socket is flagged and the session resumes and goes on.
"""

from __future__ import annotations

import asyncio
import json
import random
import time

from bench.soak_book import Text
from bench.soak_socket import SoakSocket, Trouble

ACTIONS = {"turn": 4, "interrupt": 2, "queue": 1, "bad_frame": 2, "reconnect": 1, "ping": 1}
BAD_FRAMES: dict[str, tuple[str | bytes, frozenset[str]]] = {
    "bad_json": ("{not json", frozenset({"bad_json"})),
    "unknown_type": (json.dumps({"type": "dance"}), frozenset({"unknown_type"})),
    "odd_audio": (b"\x01\x02\x03", frozenset({"bad_audio"})),
    "long_text": (
        json.dumps({"type": "text", "text": "word " * 600}),
        frozenset({"text_too_long"}),
    ),
    # Over server.max_text_message_bytes (16 KiB): 'too_big' unparsed, or 'text_too_long'
    # on a server without that limit. Either way the socket stays open.
    "oversized_text": (
        json.dumps({"type": "text", "text": "x" * 20000}),
        frozenset({"too_big", "text_too_long"}),
    ),
}
PROMPTS = ("Hello there!", "What can you do?", "Tell me more.", "Why is that?", "Go on.")
THINK_S = (0.2, 1.5)


class SoakSession(SoakSocket):
    """Session ``index``'s seeded action loop (``run``) and its last check (``final_check``)."""

    def __init__(self, base_url: str, index: int, *, seed: int, wait_s: float = 180.0) -> None:
        super().__init__(base_url, wait_s=wait_s)
        self.index = index
        self.rng = random.Random(f"{seed}:{index}")
        self._sent = 0

    async def run(self, stop_at: float) -> None:
        names, weights = list(ACTIONS), list(ACTIONS.values())
        while time.perf_counter() < stop_at:
            action = self.rng.choices(names, weights)[0]
            self.book.counts[f"action:{action}"] += 1
            try:
                await getattr(self, f"_{action}")()
            except Exception as exc:
                if not isinstance(exc, Trouble) or exc.flag:
                    self.book.flag(f"{action}: {type(exc).__name__}: {exc}")
                await self.resume()
            await asyncio.sleep(self.rng.uniform(*THINK_S))  # think time: load shaping only

    async def final_check(self) -> bool:
        """Still usable: a new text gets its whole reply."""
        try:
            await self.wait(self.book.settled, "a settled session")
            text = await self._text(measure=False)
            await self.wait(lambda: text.done, f"the reply to {text.client_id}")
            return text.state == "ended"
        except Exception as exc:
            if not isinstance(exc, Trouble) or exc.flag:
                self.book.flag(f"final check: {type(exc).__name__}: {exc}")
            return False

    # -- actions ---------------------------------------------------------------------------

    async def _turn(self) -> None:
        text = await self._settled_text()
        await self.wait(lambda: text.done, f"the end of {text.client_id}")

    async def _interrupt(self) -> None:
        text = await self._settled_text()
        await self._first_media(text)
        await asyncio.sleep(self.rng.uniform(0.0, 1.5))  # let some of it play
        await self.client.send({"type": "interrupt"})
        await self.wait(lambda: text.done, f"the end of interrupted {text.client_id}")

    async def _queue(self) -> None:
        first = await self._settled_text()
        texts = [first, await self._text(), await self._text()]
        if self.rng.random() < 0.5:
            await self._first_media(first)
            await self.client.send({"type": "interrupt"})
        await self.wait(lambda: all(t.done for t in texts), "the end of three queued texts")

    async def _bad_frame(self) -> None:
        text = await self._settled_text() if self.rng.random() < 0.4 else None
        name = self.rng.choice(list(BAD_FRAMES))
        raw, codes = BAD_FRAMES[name]
        exp = self.book.expect(codes)
        await self.client.send(raw)
        await self.wait(lambda: exp.met, f"error {'/'.join(sorted(codes))} for {name}")
        if text is not None:
            await self.wait(lambda: text.done, f"the end of {text.client_id}")

    async def _reconnect(self) -> None:
        if self.rng.random() < 0.5:
            await self._first_media(await self._settled_text())
        else:
            await self.wait(self.book.settled, "a settled session")
        await self.resume()

    async def _ping(self) -> None:
        self.book.pongs_due += 1
        await self.client.send({"type": "ping"})
        await self.wait(lambda: not self.book.pongs_due, "pong")

    # -- helpers ---------------------------------------------------------------------------

    async def _settled_text(self) -> Text:
        await self.wait(self.book.settled, "a settled session")
        return await self._text()

    async def _text(self, *, measure: bool = True) -> Text:
        self._sent += 1
        client_id = f"s{self.index}-{self._sent}"
        prompt = f"{self.rng.choice(PROMPTS)} ({client_id})"
        text = self.book.sent_text(client_id, time.perf_counter(), measure=measure)
        await self.client.send({"type": "text", "text": prompt, "id": client_id})
        return text

    async def _first_media(self, text: Text) -> None:
        await self.wait(lambda: text.done or text.first_media == text.first_media, "media")
