"""``bench/serve_latency.py``'s CPU accounting: busy CPU seconds from ``/proc``, grouped by
Ray actor or deployment, and the capacity they imply."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from pathlib import Path

from bench.serve_latency_turns import Sample

_TICK = os.sysconf("SC_CLK_TCK")
DRIVER = "driver: clients + LLM"
SESSIONS = "sessions"  # SessionHost processes (SessionActor ones before they shared hosts)
GROUPS = (SESSIONS, "Avatar", "TTS", "Ingress", "ProxyActor", DRIVER)
RAY_GROUPS = ("raylet", "gcs_server", "ServeController")


def _group(cmdline: str, comm: str) -> str:
    """A process's group: its Ray actor or deployment, else its script or command name."""
    args = cmdline.split()
    if args and args[0].startswith("ray::"):
        name = args[0][5:].split(".")[0]  # ServeReplica:app:Avatar.talking -> Avatar
        if name in ("SessionHost", "SessionActor"):
            return SESSIONS
        return name.rsplit(":", 1)[-1] if name.startswith("ServeReplica") else name
    script = next((a for a in args[1:] if a.endswith(".py")), None)
    return Path(script).stem if comm.startswith("python") and script else comm


def cpu_by_group() -> tuple[float, dict[str, float]]:
    """Busy CPU seconds of the whole machine, and of this process and its descendants
    (Ray's raylet, GCS, workers) grouped by ``_group``."""
    procs = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        procs[int(pid)] = (int(fields[1]), _group(cmdline, comm), cpu)
    mine, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, (ppid, _, _) in procs.items() if ppid == parent and p not in mine]
        mine.update(kids)
        frontier += kids
    groups: dict[str, float] = {}
    for pid in mine:
        _, name, cpu = procs[pid]
        name = DRIVER if pid == os.getpid() else name
        groups[name] = groups.get(name, 0.0) + cpu
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    busy = (sum(ticks) - ticks[3] - ticks[4]) / _TICK  # all but idle and iowait
    return busy, groups


@dataclass
class CpuUse:
    """CPU seconds spent during one level's rounds."""

    wall_s: float
    machine_s: float
    groups: dict[str, float]

    @property
    def ours_s(self) -> float:
        return sum(self.groups.values())


def cpu_table(results: dict[int, list[Sample]], cpu: dict[int, CpuUse]) -> tuple[list, float]:
    """Rows of CPU seconds by process group per level, and the capacity they imply."""
    rows, per_media = [], []
    for n, use in cpu.items():
        media = sum(s.media_s for s in results[n])
        per_media.append(use.ours_s / media)
        other = sum(v for g, v in use.groups.items() if g not in GROUPS + RAY_GROUPS)
        rows.append(
            [n, f"{use.wall_s:.1f}", f"{use.machine_s:.1f}", f"{use.ours_s:.1f}"]
            + [f"{use.groups.get(g, 0.0):.1f}" for g in GROUPS + RAY_GROUPS]
            + [f"{other:.1f}", f"{use.machine_s - use.ours_s:.1f}", f"{use.ours_s / media:.3f}"]
        )
    # Sessions this machine's cores could carry if this benchmark's processes had them to
    # themselves.
    capacity = (os.cpu_count() or 1) / statistics.median(per_media)
    return rows, capacity


CPU_HEADER = [
    "N",
    "wall s",
    "machine busy CPU s",
    "app CPU s",
    *GROUPS,
    *RAY_GROUPS,
    "other Ray processes",
    "other users of the machine",
    "app CPU s per media s",
]
