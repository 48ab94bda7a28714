"""The soak run: N sessions (bench/soak_session.py) for D seconds, Ray processes' RSS
sampled meanwhile (bench/soak_rss.py), then a final check that every session still works."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.report import pct
from bench.soak_rss import Growth, RssSample, rss_growth, sample_ray_rss
from bench.soak_session import SoakSession


@dataclass
class SessionResult:
    index: int
    session_id: str | None
    counts: Counter
    unexpected: list[str]
    usable: bool
    latencies: list[tuple[float, float]]  # (seconds into the run it was sent, first media s)

    @property
    def turns(self) -> int:
        return self.counts["turns"]


@dataclass
class SoakResult:
    seed: int
    duration_s: float  # wall time of the load, from the start to the last action's end
    warmup_s: float
    sessions: list[SessionResult] = field(default_factory=list)
    rss: list[RssSample] = field(default_factory=list)

    @property
    def unexpected(self) -> list[str]:
        return [f"session {s.index}: {m}" for s in self.sessions for m in s.unexpected]

    def counts(self) -> Counter:
        return sum((s.counts for s in self.sessions), Counter())

    def latency_by_minute(self) -> list[tuple[int, int, float, float]]:
        """``(minute, turns, p50 s, p95 s)`` of first-media latency, by the minute of the
        run in which each measured text was sent."""
        by: dict[int, list[float]] = {}
        for s in self.sessions:
            for at, latency in s.latencies:
                by.setdefault(int(at // 60), []).append(latency)
        return [(m, len(v), pct(v, 0.5), pct(v, 0.95)) for m, v in sorted(by.items())]

    def growth(self) -> list[Growth]:
        return rss_growth(self.rss, warmup_s=self.warmup_s)


async def _sample(samples: list[RssSample], t0: float, every_s: float) -> None:
    while True:
        samples.append(await asyncio.to_thread(sample_ray_rss, time.perf_counter() - t0))
        await asyncio.sleep(every_s)


async def _progress(drivers: list[SoakSession], t0: float, log: Callable[[str], None]) -> None:
    seen = 0
    while True:
        await asyncio.sleep(60.0)
        now = time.perf_counter() - t0
        recent = [x for d in drivers for at, x in d.book.latencies if at - t0 >= now - 60]
        turns = sum(d.book.counts["turns"] for d in drivers)
        bad = [m for d in drivers for m in d.book.unexpected]
        log(
            f"  {now:4.0f} s: {turns} turns; first media p50 {pct(recent, 0.5):.2f} s, "
            f"p95 {pct(recent, 0.95):.2f} s over the last minute; {len(bad)} unexpected"
            + "".join(f"\n    {m}" for m in bad[seen:])
        )
        seen = len(bad)


async def run_soak(
    base_url: str,
    *,
    sessions: int = 16,
    duration_s: float = 600.0,
    seed: int = 0,
    sample_every_s: float = 10.0,
    warmup_frac: float = 0.2,
    wait_s: float = 180.0,
    log: Callable[[str], None] = print,
) -> SoakResult:
    """Open ``sessions`` sessions on the app at ``base_url``, run each one's action loop for
    ``duration_s`` (actions under way then are finished), then check each one with a last
    turn and close it. RSS is of this process's Ray processes: meaningful when this process
    started the app's Ray. Nothing is raised for the server's misbehaviour: it is in the
    result's ``unexpected``."""
    drivers = [SoakSession(base_url, i, seed=seed, wait_s=wait_s) for i in range(sessions)]
    opened = await asyncio.gather(*(d.open() for d in drivers), return_exceptions=True)
    for d, r in zip(drivers, opened, strict=True):
        if isinstance(r, BaseException):
            d.book.flag(f"open: {type(r).__name__}: {r}")
    live = [d for d, r in zip(drivers, opened, strict=True) if not isinstance(r, BaseException)]
    log(f"  {len(live)}/{sessions} sessions open; running for {duration_s:.0f} s")
    t0 = time.perf_counter()
    samples: list[RssSample] = []
    background = [
        asyncio.create_task(_sample(samples, t0, sample_every_s)),
        asyncio.create_task(_progress(drivers, t0, log)),
    ]
    runs = await asyncio.gather(*(d.run(t0 + duration_s) for d in live), return_exceptions=True)
    wall = time.perf_counter() - t0
    for task in background:
        task.cancel()
    await asyncio.gather(*background, return_exceptions=True)
    samples.append(await asyncio.to_thread(sample_ray_rss, wall))
    for d, r in zip(live, runs, strict=True):
        if isinstance(r, BaseException):
            d.book.flag(f"the session's loop ended: {type(r).__name__}: {r}")
    checks = await asyncio.gather(*(d.final_check() for d in live))
    usable = {d.index: ok for d, ok in zip(live, checks, strict=True)}
    await asyncio.gather(*(d.close() for d in live), return_exceptions=True)
    result = SoakResult(seed, wall, warmup_frac * duration_s, rss=samples)
    for d in drivers:
        lat = [(at - t0, x) for at, x in d.book.latencies]
        result.sessions.append(
            SessionResult(
                d.index,
                d.session_id,
                d.book.counts,
                d.book.unexpected,
                usable.get(d.index, False),
                lat,
            )
        )
    return result
