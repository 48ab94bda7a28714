"""``BurstDemand``: how many sessions arrive together, to size the warm pool by.

A warm session is held for nobody (a few MB, and its share of a host's reservation), so the
pool stays small while connections trickle in; but a burst (a class opening the page at once,
a demo) would otherwise wait for session starts, and new host processes, one after another.
The pool keeps as many ready as the busiest burst of the recent past: the most arrivals
within ``burst_s`` seen in the last ``memory_s``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["BurstDemand"]


class BurstDemand:
    """Arrival times of new sessions; ``peak()`` is the largest burst still remembered.

    ``burst_s`` is about one session start on a loaded node: arrivals that close together
    all wait for starts at once. ``clock`` is injectable (tests move it by hand).
    """

    def __init__(
        self,
        *,
        burst_s: float = 10.0,
        memory_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst_s <= 0 or memory_s < burst_s:
            raise ValueError("need burst_s > 0 and memory_s >= burst_s")
        self.burst_s, self.memory_s, self._clock = burst_s, memory_s, clock
        self._arrivals: deque[float] = deque()

    def arrived(self) -> None:
        self._arrivals.append(self._clock())
        self._forget()

    def peak(self) -> int:
        """The most arrivals within any ``burst_s`` of the last ``memory_s``."""
        self._forget()
        times, best, first = list(self._arrivals), 0, 0
        for last, t in enumerate(times):  # a window ending at each arrival
            while t - times[first] > self.burst_s:
                first += 1
            best = max(best, last - first + 1)
        return best

    def _forget(self) -> None:
        horizon = self._clock() - self.memory_s
        while self._arrivals and self._arrivals[0] < horizon:
            self._arrivals.popleft()
