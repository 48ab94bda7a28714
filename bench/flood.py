"""Does one hostile socket slow everyone else down? A 1 MiB text-frame flood against a user.

    python3 bench/flood.py [--frames 200] [--questions 5] [--no-write]

Starts the app on real local Ray + Serve (tests/serve_fixtures.running_app: espeak-ng, the
sprite, the offline echo). A victim session asks ``--questions`` questions one after another,
first on a quiet server (baseline), then while an attacker socket sends ``--frames`` text frames
of just under 1 MiB as fast as it can. Both phases run in one process, so the ratio of the
victim's first-media latencies (question sent -> first media fragment) compares like with like
on a noisy machine. /healthz is probed every 0.5 s during each phase. Writes the ``flood``
section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import fmt, markdown_table, pct, write_section  # noqa: E402

FRAME_CHARS = (1 << 20) - 64  # just under server.max_message_bytes: not closed at once


def healthz(base: str) -> tuple[int, float]:
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=30) as r:
            return r.status, time.perf_counter() - t
    except urllib.error.HTTPError as exc:
        return exc.code, time.perf_counter() - t
    except OSError:
        return 0, time.perf_counter() - t


def ingress_rss_mb() -> float:
    from ray._private import state

    for actor in state.actors().values():
        if actor["State"] == "ALIVE" and actor["ActorClassName"].endswith(":Ingress"):
            for line in Path(f"/proc/{actor['Pid']}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    return float("nan")


async def victim_turns(victim, n: int) -> list[float]:
    latencies = []
    for i in range(n):
        sent = time.perf_counter()
        await victim.ask(f"Question number {i}. Tell me something.")
        first = None
        while True:
            item = await victim.recv(timeout=120)
            if item.is_media and first is None:
                first = item.at - sent
            if item.event is not None and item.event["type"] == "turn_end":
                break
        latencies.append(first if first is not None else float("nan"))
    return latencies


async def probe(base: str, stop: asyncio.Event, out: list[tuple[int, float]]) -> None:
    while not stop.is_set():
        out.append(await asyncio.to_thread(healthz, base))
        await asyncio.sleep(0.5)


async def attack(base: str, frames: int) -> tuple[float, Counter]:
    from tests.ws_client import ChatClient

    payload = json.dumps({"type": "text", "text": "x" * FRAME_CHARS})
    codes: Counter = Counter()
    async with ChatClient(base) as attacker:
        t = time.perf_counter()
        for _ in range(frames):
            await attacker.send(payload)
        sent_s = time.perf_counter() - t
        for r in await attacker.drain(quiet_s=3.0):
            if r.event is not None:
                codes[r.event.get("code", r.event["type"])] += 1
    return sent_s, codes


async def phase(base, victim, questions, frames=0):
    stop, health = asyncio.Event(), []
    prober = asyncio.create_task(probe(base, stop, health))
    attacker = asyncio.create_task(attack(base, frames)) if frames else None
    latencies = await victim_turns(victim, questions)
    result = await attacker if attacker else (0.0, Counter())
    stop.set()
    await prober
    return latencies, health, result


async def run(base: str, frames: int, questions: int) -> dict:
    from tests.ws_client import ChatClient

    async with ChatClient(base) as victim:
        await victim_turns(victim, 2)  # warm-up: first turns load espeak and the encoder
        rss0 = ingress_rss_mb()
        quiet = await phase(base, victim, questions)
        flood = await phase(base, victim, questions, frames)
        rss1 = ingress_rss_mb()
    return {"quiet": quiet, "flood": flood, "rss": (rss0, rss1), "frames": frames}


def report(r: dict) -> str:
    rows = []
    for name in ("quiet", "flood"):
        lat, health, _ = r[name]
        statuses = Counter(code for code, _ in health)
        rows.append(
            [
                name,
                fmt(pct(lat, 0.5) * 1000),
                fmt(max(lat) * 1000),
                ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())),
                fmt(max((s for _, s in health), default=float("nan")) * 1000),
            ]
        )
    ratio = pct(r["flood"][0], 0.5) / pct(r["quiet"][0], 0.5)
    sent_s, codes = r["flood"][2]
    table = markdown_table(
        ["phase", "victim first media p50 (ms)", "max (ms)", "/healthz answers", "slowest (ms)"],
        rows,
    )
    return (
        f"{r['frames']} text frames of {FRAME_CHARS} characters sent in {sent_s:.1f} s by one "
        f"socket, while another asked {len(r['quiet'][0])} questions (`bench/flood.py`).\n\n"
        f"{table}\n\nVictim's first media under the flood: **{ratio:.2f}x** the quiet median "
        f"(target: within 2x). Ingress RSS {r['rss'][0]:.0f} -> {r['rss'][1]:.0f} MB. The "
        f"attacker's answers: {dict(codes)}."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--questions", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from tests.serve_fixtures import running_app

    with running_app() as base:
        result = asyncio.run(run(base, args.frames, args.questions))
    text = report(result)
    print(text)
    if not args.no_write:
        write_section("flood", "## A hostile socket: 1 MiB text-frame flood\n\n" + text)


if __name__ == "__main__":
    main()
