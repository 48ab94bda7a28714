"""Question-to-first-media latency and real-time capacity of the Serve app.

    python3 bench/serve_latency.py [--levels 1 4 8 12 16] [--rounds 2] [--sizes 256 384]

Starts the app on real local Ray + Serve (tests/serve_fixtures.running_app; espeak-ng, the
sprite avatar) against a scripted OpenAI-compatible server (first token after 300 ms, then
20 tokens/s). For each concurrency level N, N WebSocket sessions ask a question at the same
moment and each records when its question left, its first ``reply_delta``, the delta that
completed the first sentence, its first media fragment, every fragment and ``turn_end``.

Playback model for "real time" (the web client's rule, serve_app/static/player.js): playback
starts when START_BUFFER_S (0.5 s) of the turn is playable in both tracks, or when its last
fragment is in; it plays where both tracks are buffered. Each later fragment is due when
playback reaches the end of what arrived before it: ``t_start + min(video end, audio end) +
stalled_so_far`` (the audio end is read from the fragment's ``moof``). A fragment arriving
after that is late: playback waits for it, and later deadlines move by the wait. A wait over
20 ms (STALL_TOLERANCE_S) is a stall; a turn is real time when it has no stall.
Prints a table and writes the ``serve_latency`` section of docs/benchmarks.md.

The parts: ``serve_latency_turns.py`` (the scripted LLM, a session's turn, the playback
model), ``serve_latency_cpu.py`` (CPU by process group) and ``serve_latency_report.py``
(tables and the doc section) beside this file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import markdown_table, write_section  # noqa: E402
from bench.serve_latency_cpu import CPU_HEADER, CpuUse, cpu_by_group, cpu_table  # noqa: E402
from bench.serve_latency_report import HEADER, round_line, section, summarize  # noqa: E402
from bench.serve_latency_turns import (  # noqa: E402
    FIRST_TOKEN_S,
    TOKENS_PER_S,
    Sample,
    ScriptedModel,
    one_turn,
)
from tests.fakes.openai_server import FakeOpenAIServer  # noqa: E402


async def run_levels(base: str, levels: list[int], rounds: int, model):
    from tests.ws_client import ChatClient

    clients: list[ChatClient] = []
    results: dict[int, list[Sample]] = {}
    cpu: dict[int, CpuUse] = {}
    try:
        for n in levels:
            new = [ChatClient(base) for _ in range(n - len(clients))]
            await asyncio.gather(*(c.__aenter__() for c in new))
            clients += new
            # A session's first turn starts its encoder and connections: keep it out of the figures.
            for c in new:
                await c.ask("warm up")
            await asyncio.gather(*(c.until("turn_end", timeout=120) for c in new))
            results[n] = []
            await asyncio.sleep(1.0)  # let the warm-up's tail settle
            t0, (busy0, groups0) = time.perf_counter(), cpu_by_group()
            for r in range(rounds):
                turns = (one_turn(c, i, r + 100 * n, model) for i, c in enumerate(clients[:n]))
                results[n] += await asyncio.gather(*turns)
                print(f"  N={n:2d} round {r + 1}: {round_line(results[n][-n:])}", flush=True)
            busy1, groups1 = cpu_by_group()
            used = {g: v - groups0.get(g, 0.0) for g, v in groups1.items()}
            cpu[n] = CpuUse(time.perf_counter() - t0, busy1 - busy0, used)
            await asyncio.sleep(1.0)
    finally:
        await asyncio.gather(*(c.__aexit__(None, None, None) for c in clients))
    return results, cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--levels", type=int, nargs="+", default=[1, 4, 8, 12, 16])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 384])
    p.add_argument("--num-cpus", type=int, default=4, help="logical CPUs Ray is told about")
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args(argv)
    if sorted(args.levels) != args.levels or args.levels[0] < 1 or args.rounds < 1:
        p.error("--levels must be increasing and >= 1; --rounds >= 1")
    from tests.serve_fixtures import running_app

    load, t0 = os.getloadavg(), time.perf_counter()
    by_size = {}
    model = ScriptedModel()
    with FakeOpenAIServer(
        model, first_token_delay_s=FIRST_TOKEN_S, tokens_per_s=TOKENS_PER_S
    ) as srv:
        for size in args.sizes:
            app_args = {
                "llm": {"base_url": srv.base_url, "model": "fake-model"},
                "tts": {"engine": "espeak"},
                "avatar": {"kind": "sprite", "size": size},
                "server": {
                    "max_sessions": max(args.levels),
                    "max_sessions_per_client": max(args.levels),
                },
            }
            print(f"size {size}: starting the app", flush=True)
            with running_app(app_args, num_cpus=args.num_cpus) as base:
                results, cpu = asyncio.run(run_levels(base, args.levels, args.rounds, model))
            by_size[size] = (*summarize(results), *cpu_table(results, cpu))
            print(markdown_table(HEADER, by_size[size][0]), flush=True)
            print(markdown_table(CPU_HEADER, by_size[size][2]), flush=True)
    text = section(by_size, args, load, time.perf_counter() - t0)
    print(text)
    if not args.no_write:
        print(f"wrote section 'serve_latency' of {write_section('serve_latency', text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
