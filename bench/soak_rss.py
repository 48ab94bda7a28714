"""Resident memory of this process's Ray processes, from ``/proc`` (psutil is not assumed).

A Ray process is a descendant of this process (so other users' Ray clusters on the same
machine are left out) that is a Ray worker or actor (``ray::...``: SessionHost, the Serve
replicas, ProxyActor, ServeController, IDLE workers), the ``raylet`` or ``gcs_server``, or
one of Ray's own Python helpers (dashboard agent, log monitor). Kinds group them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

GROWTH_FLAG = 0.10  # growth from warm-up to the end that is worth a look


def ray_kind(args: list[str]) -> str | None:
    """The kind of a process from its argv, or None if it is not a Ray process."""
    if not args:
        return None
    first = args[0]
    if first.startswith("ray::"):
        name = first[5:].split(".")[0]  # ray::SessionHost.events -> SessionHost
        # ServeReplica:soak:Avatar -> Avatar
        return name.rsplit(":", 1)[-1] if name.startswith("ServeReplica") else name
    if Path(first).name in ("raylet", "gcs_server"):
        return Path(first).name
    script = next((a for a in args[1:3] if a.endswith(".py")), "")
    if "/ray/" in script:
        return "ray " + Path(script).stem
    return None


def _descendants(root: int) -> dict[int, list[str]]:
    """argv of every live descendant of ``root``."""
    parents: dict[int, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        parents[int(pid)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    mine, frontier = set(), [root]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent and p not in mine]
        mine.update(kids)
        frontier += kids
    out = {}
    for pid in mine:
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        out[pid] = raw.decode(errors="replace").split("\0")
    return out


def _rss_bytes(pid: int) -> tuple[int, int] | None:
    """``(VmRSS, RssAnon)`` in bytes; RssAnon leaves out mapped files and shared memory
    (libraries, Ray's object store), so it is the clearer sign of a leak."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    kb = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon"):
            kb[key] = int(value.split()[0]) * 1024
    return (kb["VmRSS"], kb.get("RssAnon", 0)) if "VmRSS" in kb else None


@dataclass(frozen=True)
class RssSample:
    """RSS (bytes) of each Ray process at ``t`` seconds into the run."""

    t: float
    procs: dict[int, tuple[str, int]]  # pid -> (kind, VmRSS)
    anon: dict[int, int]  # pid -> RssAnon

    def by_kind(self) -> dict[str, tuple[int, int, int]]:
        """kind -> (processes, total VmRSS, total RssAnon)."""
        out: dict[str, tuple[int, int, int]] = {}
        for pid, (kind, rss) in self.procs.items():
            n, total, anon = out.get(kind, (0, 0, 0))
            out[kind] = (n + 1, total + rss, anon + self.anon.get(pid, 0))
        return out

    @property
    def total(self) -> int:
        return sum(rss for _, rss in self.procs.values())


def sample_ray_rss(t: float, *, root: int | None = None) -> RssSample:
    procs, anon = {}, {}
    for pid, args in _descendants(root or os.getpid()).items():
        kind = ray_kind([a for a in args if a])
        rss = _rss_bytes(pid) if kind else None
        if kind and rss is not None:
            procs[pid], anon[pid] = (kind, rss[0]), rss[1]
    return RssSample(t, procs, anon)


@dataclass(frozen=True)
class Growth:
    """One kind's RSS at the warm-up sample and at the last one."""

    kind: str
    procs: tuple[int, int]
    start: int  # VmRSS
    end: int
    max_proc: float  # largest VmRSS growth of one process alive at both samples (NaN: none)
    anon: tuple[int, int] = (0, 0)  # RssAnon at the two samples

    @property
    def growth(self) -> float:
        return (self.end - self.start) / self.start if self.start else float("nan")

    @property
    def anon_growth(self) -> float:
        a, b = self.anon
        return (b - a) / a if a else float("nan")

    @property
    def flagged(self) -> bool:
        return self.growth >= GROWTH_FLAG


def rss_growth(samples: list[RssSample], *, warmup_s: float) -> list[Growth]:
    """Per kind (largest at the end first), then ``total``: growth from the first sample at
    or after ``warmup_s`` to the last sample. Empty if there is no such pair."""
    later = [s for s in samples if s.t >= warmup_s]
    if len(later) < 2:
        return []
    first, last = later[0], later[-1]
    a, b = first.by_kind(), last.by_kind()
    rows = []
    for kind in sorted(set(a) | set(b), key=lambda k: -b.get(k, (0, 0, 0))[1]):
        both = [p for p, (k, _) in first.procs.items() if k == kind and p in last.procs]
        per = [(last.procs[p][1] - first.procs[p][1]) / first.procs[p][1] for p in both]
        (n0, r0, a0), (n1, r1, a1) = a.get(kind, (0, 0, 0)), b.get(kind, (0, 0, 0))
        rows.append(Growth(kind, (n0, n1), r0, r1, max(per, default=float("nan")), (a0, a1)))
    per_all = [r.max_proc for r in rows if r.max_proc == r.max_proc]
    n = (len(first.procs), len(last.procs))
    anon = (sum(first.anon.values()), sum(last.anon.values()))
    top = max(per_all, default=float("nan"))
    return [*rows, Growth("total", n, first.total, last.total, top, anon)]
