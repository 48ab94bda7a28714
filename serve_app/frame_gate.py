"""``FrameGate``: admission in front of LipSync's ``@serve.batch`` queue.

Serve closes a batch after ``batch_wait_timeout_s`` even while the previous inference call
still runs, so the frames arriving during a call would be cut into small batches, each of
one session. The gate holds requests while the model is busy and lets them in together,
one batch's worth at a time, when it is free.
"""

from __future__ import annotations

import asyncio
from collections import deque


class FrameGate:
    """Lets requests into the batch queue only while the model is idle, one batch at a time.

    Waiting requests are released in arrival order, up to ``max_frames`` frames, when the
    running call finishes; so the next batch is made of what every session sent meanwhile.
    """

    def __init__(self, max_frames: int) -> None:
        self.max_frames = max_frames
        self.busy = False
        self.admitted = 0  # frames let in whose batch has not started yet
        self._waiting: deque[tuple[int, asyncio.Future]] = deque()

    async def admit(self, frames: int) -> None:
        if not self.busy and not self._waiting and self._fits(frames):
            self.admitted += frames
            return
        ticket = asyncio.get_running_loop().create_future()
        self._waiting.append((frames, ticket))
        try:
            await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():  # let in, then cancelled: give back
                self.give_back(frames)
            elif (frames, ticket) in self._waiting:
                self._waiting.remove((frames, ticket))
            raise

    @property
    def waiting(self) -> int:
        """Requests waiting to be let in."""
        return sum(not ticket.done() for _, ticket in self._waiting)

    @property
    def idle(self) -> bool:
        """No batch running, none let in, none waiting."""
        return not self.busy and self.admitted == 0 and self.waiting == 0

    def give_back(self, frames: int) -> None:
        """Frames let in that will not be queued after all."""
        self.admitted = max(0, self.admitted - frames)
        self._release()

    def started(self, frames: int) -> None:
        self.busy = True
        self.admitted = max(0, self.admitted - frames)

    def finished(self) -> None:
        self.busy = False
        self._release()

    def _fits(self, frames: int) -> bool:
        # A request larger than the batch (the limit shrank meanwhile) goes in alone.
        return self.admitted == 0 or self.admitted + frames <= self.max_frames

    def _release(self) -> None:
        while self._waiting and not self.busy:
            frames, ticket = self._waiting[0]
            if ticket.done():
                self._waiting.popleft()
            elif self._fits(frames):
                self._waiting.popleft()
                self.admitted += frames
                ticket.set_result(None)
            else:
                return
