"""``HostProbe``: can this machine reach an online engine's host at all?

An online engine on a machine with no network fails every call, which a circuit breaker
would count as an outage of the service. Whether the host resolves and accepts a TCP
connection tells the two apart cheaply (on an offline machine the name lookup fails in
milliseconds). The answer is kept for ``interval_s`` so the check costs at most one
connection attempt per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from urllib.parse import urlsplit

__all__ = ["HostProbe"]


class HostProbe:
    """Whether ``host:port`` can be reached: DNS lookup plus TCP connect within ``timeout_s``.

    ``reachable()`` probes at most once per ``interval_s`` (concurrent callers share one
    probe) and otherwise returns the last answer; ``last_error`` says why the last probe
    failed. ``interval_s == 0`` disables probing: the host is always taken as reachable.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout_s: float = 1.0,
        interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not host or not 0 < port < 65536 or timeout_s <= 0 or interval_s < 0:
            raise ValueError("need a host, a port in 1..65535, timeout_s > 0, interval_s >= 0")
        self.host, self.port = host, port
        self.timeout_s, self.interval_s = timeout_s, interval_s
        self.last_error: str | None = None
        self._clock = clock
        self._checked_at: float | None = None
        self._reachable = True
        self._probe: asyncio.Task | None = None

    @classmethod
    def for_url(cls, url: str, **options) -> HostProbe:
        """The probe for the host of ``url`` (``wss://``/``https://`` default to port 443)."""
        parts = urlsplit(url)
        default = 80 if parts.scheme in ("http", "ws") else 443
        return cls(parts.hostname or "", parts.port or default, **options)

    async def reachable(self) -> bool:
        if self.interval_s == 0:
            return True
        fresh = self._checked_at is not None and self._clock() - self._checked_at < self.interval_s
        if fresh:
            return self._reachable
        if self._probe is None:
            self._probe = asyncio.ensure_future(self._connect())
        probe = self._probe
        try:
            return await asyncio.shield(probe)
        finally:
            if probe.done() and self._probe is probe:
                self._probe = None

    async def _connect(self) -> bool:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout_s
            )
        except (OSError, TimeoutError) as err:  # gaierror, refused, unreachable, too slow
            self._reachable, self.last_error = False, _describe(err, self.timeout_s)
        else:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            self._reachable, self.last_error = True, None
        self._checked_at = self._clock()
        return self._reachable


def _describe(err: BaseException, timeout_s: float) -> str:
    if isinstance(err, TimeoutError):
        return f"no TCP connection within {timeout_s:g} s"
    return f"{type(err).__name__}: {err}"
