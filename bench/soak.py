"""Soak test of the Serve app: many sessions over minutes, with interrupts, reconnects and
bad frames, watching for unexpected errors, latency drift and Ray processes' memory growth.

    python3 bench/soak.py [--sessions 16] [--duration-s 600] [--seed 0] [--no-write]

Starts the app on real local Ray + Serve (tests/serve_fixtures.running_app; espeak-ng, the
256 px sprite, a scripted OpenAI-compatible LLM) with settings that fit 16 sessions on 2
cores, runs ``run_soak`` (bench/soak_run.py; each session's action loop is in
bench/soak_session.py, its socket in soak_socket.py, its bookkeeping in soak_book.py, RSS
sampling in soak_rss.py), prints the tables and writes the ``soak`` section of
docs/benchmarks.md (bench/soak_report.py).
Exit status 1 if anything unexpected happened or a session was unusable at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.soak_run import SoakResult, run_soak  # noqa: E402

REPLIES = (
    "Sure, happy to help with that.",
    "Good question. Every session keeps its history in a small actor of its own.",
    "Here is a longer answer. The first sentence is spoken while the rest is written. "
    "That is why replies start quickly, and you may cut me short at any time.",
)
FIRST_TOKEN_S, TOKENS_PER_S = 0.3, 20.0


def scripted_reply(messages: list[dict]) -> str:
    """The fake LLM's answer: one of REPLIES, chosen by the last user message."""
    asked = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    return REPLIES[zlib.crc32(asked.encode()) % len(REPLIES)]


def soak_args(llm_base_url: str, *, max_sessions: int) -> dict:
    """App settings (over tests/serve_fixtures.DEFAULT_ARGS, which adds the fake ASR)."""
    return {
        "llm": {"base_url": llm_base_url, "model": "fake-model"},
        "tts": {"engine": "espeak"},
        "avatar": {"kind": "sprite", "size": 256},
        "server": {
            "max_sessions": max_sessions,
            # Every soak socket comes from 127.0.0.1: one client as far as admission knows.
            "max_sessions_per_client": max_sessions,
            "max_connects_per_minute": 10000,
            "session_num_cpus": 0.01,
            "resume_grace_s": 30,
            "session_start_timeout_s": 180,
        },
    }


@contextlib.contextmanager
def soak_app(
    *, max_sessions: int, name: str = "avatar-chat", route_prefix: str = "/", num_cpus: int = 4
) -> Iterator[str]:
    """Base URL of the app with ``soak_args`` and its scripted LLM, both running."""
    from tests.fakes.openai_server import FakeOpenAIServer
    from tests.serve_fixtures import running_app

    with FakeOpenAIServer(
        scripted_reply, first_token_delay_s=FIRST_TOKEN_S, tokens_per_s=TOKENS_PER_S
    ) as llm:
        args = soak_args(llm.base_url, max_sessions=max_sessions)
        with running_app(args, num_cpus=num_cpus, name=name, route_prefix=route_prefix) as base:
            yield base


def print_result(result: SoakResult) -> None:
    from bench.soak_report import report

    print(report(result), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sessions", type=int, default=16)
    p.add_argument("--duration-s", type=float, default=600.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-sessions", type=int, help="server.max_sessions (default sessions+4)")
    p.add_argument("--num-cpus", type=int, default=4, help="logical CPUs Ray is told about")
    p.add_argument("--wait-s", type=float, default=180.0, help="longest wait for a reply")
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args(argv)
    args.max_sessions = args.max_sessions or args.sessions + 4
    if args.sessions < 1 or args.duration_s <= 0 or args.max_sessions < args.sessions:
        p.error("--sessions >= 1, --duration-s > 0, --max-sessions >= --sessions")
    load, t0 = os.getloadavg(), time.perf_counter()
    print(f"starting the app (max_sessions {args.max_sessions})", flush=True)
    with soak_app(max_sessions=args.max_sessions, num_cpus=args.num_cpus) as base:
        result = asyncio.run(
            run_soak(
                base,
                sessions=args.sessions,
                duration_s=args.duration_s,
                seed=args.seed,
                wait_s=args.wait_s,
            )
        )
    print_result(result)
    if not args.no_write:
        from bench.report import write_section
        from bench.soak_report import section

        text = section(result, args, load, time.perf_counter() - t0)
        print(f"wrote section 'soak' of {write_section('soak', text)}")
    bad = result.unexpected or not all(s.usable for s in result.sessions)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
