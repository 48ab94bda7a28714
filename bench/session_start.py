"""Session start under a burst, and the memory a session adds.

    python -m bench.session_start [--levels 1 4 8] [--rounds 3] [--sessions 16]

Starts the app on real local Ray + Serve (tests/serve_fixtures.running_app: espeak-ng, the
256 px sprite, the offline echo LLM) with the server's default warm pool. Two parts:

- **Burst**: at each level N, N WebSocket clients connect at the same moment, after the
  server has been idle (its warm pool refilled); the time from each client's connect to its
  ``session`` event. ``--rounds`` bursts per level; p50 / p95 over all clients of a level.
- **Memory**: the machine's used memory (MemTotal − MemAvailable) with no session, then with
  ``--sessions`` live sessions that have each had one short turn; the difference per session,
  and the USS (private memory) of the session host processes.

Writes the ``session_start`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from bench.report import fmt, machine_line, markdown_table, pct, write_section
from tests.serve_fixtures import healthz, running_app
from tests.ws_client import ChatClient

ARGS = {
    "server": {
        "max_sessions": 24,
        "max_sessions_per_client": 24,
        "resume_grace_s": 30,
        "session_start_timeout_s": 180,
        "warm_sessions_max": 8,  # the server's default (the test fixtures keep one)
    },
    "llm": {"engine": "echo"},
    # Text sessions as serve_config.yaml runs them, without the tests' scripted-ASR plugin
    # (which would import faster-whisper into every session). With VAD on, a session loads
    # its VAD only on its first microphone audio, so text sessions cost the same either way.
    "plugins": [],
    "asr": {"engine": "whisper"},
    "vad": {"enabled": False},
}


async def quiet(base: str, timeout_s: float = 120.0) -> None:
    """Idle server: no session left, and the warm pool no longer growing."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        _, h = await asyncio.to_thread(healthz, base, timeout_s=30)
        if h.get("sessions") == 0 and h.get("warm_sessions") == last:
            return
        last = h.get("warm_sessions")
        await asyncio.sleep(3.0)


async def burst(base: str, n: int) -> list[float]:
    async def one() -> tuple[float, ChatClient]:
        c = ChatClient(base)
        t = time.perf_counter()
        await c.__aenter__()
        return time.perf_counter() - t, c

    results = await asyncio.gather(*(one() for _ in range(n)))
    for _, c in results:
        await c.__aexit__(None, None, None)
    return [t for t, _ in results]


def used_mb() -> float:
    info = {}
    for line in open("/proc/meminfo"):
        key, value = line.split(":", 1)
        info[key] = int(value.split()[0])
    return (info["MemTotal"] - info["MemAvailable"]) / 1024


def session_uss_mb() -> list[float]:
    from ray._private import state

    out = []
    for a in state.actors().values():
        if a.get("ActorClassName") == "SessionHost" and a.get("State") == "ALIVE":
            try:
                with open(f"/proc/{a['Pid']}/smaps_rollup") as fh:
                    fields = dict(line.split(":", 1) for line in fh if ":" in line)
                kb = sum(int(fields[k].split()[0]) for k in ("Private_Clean", "Private_Dirty"))
                out.append(kb / 1024)
            except (OSError, KeyError, ValueError):
                pass
    return out


async def memory(base: str, n: int) -> dict:
    await quiet(base)
    await asyncio.sleep(5.0)
    before = used_mb()
    hosts_before = len(session_uss_mb())
    warm_before = (await asyncio.to_thread(healthz, base, timeout_s=30))[1]["warm_sessions"]
    clients = []
    for _ in range(n):
        c = ChatClient(base)
        await c.__aenter__()
        clients.append(c)
    for c in clients:
        await c.ask("Hello there.")
    for c in clients:
        await c.until("turn_end", timeout=300)
    await asyncio.sleep(5.0)
    after = used_mb()
    uss = session_uss_mb()
    warm_after = (await asyncio.to_thread(healthz, base, timeout_s=30))[1]["warm_sessions"]
    for c in clients:
        await c.__aexit__(None, None, None)
    return {
        "sessions": n,
        "before_mb": before,
        "after_mb": after,
        "warm_before": warm_before,
        "warm_after": warm_after,  # the pool grows after a burst: counted against the n
        "hosts_before": hosts_before,
        "hosts_after": len(uss),
        "per_session_mb": (after - before) / n,
        "uss_median_mb": pct(uss, 0.5),
    }


async def main_async(levels: list[int], rounds: int, sessions: int) -> tuple[dict, dict]:
    with running_app(ARGS, name="session-start", route_prefix="/start") as base:
        times: dict[int, list[list[float]]] = {}
        for n in levels:
            for _ in range(rounds):
                await quiet(base)
                times.setdefault(n, []).append(await burst(base, n))
                t = times[n][-1]
                print(f"N={n} burst {len(times[n])}: p50 {pct(t, 0.5):.2f} s, "
                      f"p95 {pct(t, 0.95):.2f} s, max {max(t):.2f} s")  # fmt: skip
        mem = await memory(base, sessions)
        print(json.dumps(mem, indent=2))
    return times, mem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="*", default=[1, 4, 8])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M")
    times, mem = asyncio.run(main_async(args.levels, args.rounds, args.sessions))

    def cells(t: list[float]) -> list[str]:
        return [fmt(pct(t, 0.5), 2), fmt(pct(t, 0.95), 2)] if t else ["—", "—"]

    rows = [
        [n, *cells(bursts[0]), *cells([x for b in bursts[1:] for x in b])]
        for n, bursts in times.items()
    ]
    body = "\n".join([
        "## Session start and memory per session (`bench/session_start.py`)",
        "",
        f"{started}, {machine_line()} Real local Ray + Serve (4 logical CPUs), the default "
        "warm pool (`server.warm_sessions`), espeak-ng, 256 px sprite, echo LLM.",
        "",
        "N clients connect at the same moment to an idle server; seconds from connect to the "
        f"`session` event, {args.rounds} bursts per level (levels in this order). The first "
        "burst of a level finds the pool as the previous level left it; the later ones find it "
        "grown to the recent peak burst (`server.warm_sessions_max`):",
        "",
        markdown_table(
            ["N", "first burst p50 s", "p95 s", "later bursts p50 s", "p95 s"], rows
        ),
        "",
        f"Memory: machine used memory {mem['before_mb']:.0f} MB with no session, "
        f"{mem['after_mb']:.0f} MB with {mem['sessions']} live sessions after one turn each "
        f"(and {mem['warm_after']} warm sessions, {mem['warm_before']} before; "
        f"{mem['hosts_after']} session host processes, {mem['hosts_before']} before): "
        f"**{mem['per_session_mb']:.0f} MB per live session added** (the warm ones counted "
        "against them); median USS (private memory) of a session host process "
        f"{mem['uss_median_mb']:.0f} MB.",
    ])  # fmt: skip
    print(body if args.no_write else write_section("session_start", body))


if __name__ == "__main__":
    main()
