"""How many Wav2Lip sessions play in real time through ``serve_config.wav2lip.yaml``.

    python3 bench/wav2lip_sessions.py [--levels 1 2 3 4] [--rounds 1] [--no-write]

Runs the shipped file as a user does (``serve run``, a Ray of its own), with only what this
offline machine needs changed: the random-weight int8 Wav2Lip model and the astro pack built
by ``bench/lipsync.py``'s ``prepare`` (cached in ``--workdir``), espeak-ng instead of edge-tts,
the scripted OpenAI-compatible server of ``bench/serve_latency.py`` (the same 5-sentence
reply), a free port, and ``server.max_sessions`` raised to the top level so admission does not
cap the count. At each level N, N sessions (connected one after another) ask at the same
moment after one warm-up turn each; a turn is real time when playback never waits over 20 ms
for a fragment (the playback model of ``bench/serve_latency_turns.py``). Writes the
``wav2lip_sessions`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import machine_line, markdown_table, write_section  # noqa: E402
from bench.serve_latency_report import round_line  # noqa: E402
from bench.serve_latency_turns import FIRST_TOKEN_S, TOKENS_PER_S, ScriptedModel, one_turn  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer  # noqa: E402
from tests.serve_fixtures import free_port, healthz  # noqa: E402

CONFIG = ROOT / "serve_config.wav2lip.yaml"


def config_for(
    workdir: Path, llm_url: str, port: int, max_sessions: int, tree: Path = ROOT
) -> dict:
    """``tree``'s serve_config.wav2lip.yaml with what this offline machine needs changed."""
    config = yaml.safe_load((tree / CONFIG.name).read_text())
    config["http_options"] = {"host": "127.0.0.1", "port": port}
    args = config["applications"][0]["args"]
    args["models_dir"], args["avatars_dir"] = str(workdir), str(workdir / "avatars")
    args["tts"] = {"engine": "espeak"}
    args["llm"] = {"engine": "openai", "base_url": llm_url, "model": "fake-model"}
    args["server"] |= {"max_sessions": max_sessions, "max_sessions_per_client": max_sessions}
    # Frames per second are measured, not session start: main before #14 started a process per
    # session, and 8 at once beside Wav2Lip on 2 cores took over the default 60 s.
    args["server"]["session_start_timeout_s"] = 300
    return config


async def run_levels(base: str, levels: list[int], rounds: int, model) -> dict[int, list]:
    from tests.ws_client import ChatClient

    results = {}
    for n in levels:
        clients = [ChatClient(base) for _ in range(n)]
        # One after another: what is measured is the turns, not session start (main before #14
        # started a process per session, and 8 at once beside Wav2Lip on 2 cores did not all
        # send `session` within the client's 120 s).
        for c in clients:
            await c.__aenter__()
        try:
            for c in clients:
                await c.ask("warm up")
            await asyncio.gather(*(c.until("turn_end", timeout=600) for c in clients))
            results[n] = []
            for r in range(rounds):
                turns = (one_turn(c, i, r + 100 * n, model) for i, c in enumerate(clients))
                results[n] += await asyncio.gather(*turns)
                print(f"  N={n} round {r + 1}: {round_line(results[n][-n:])}", flush=True)
        finally:
            await asyncio.gather(*(c.__aexit__(None, None, None) for c in clients))
        await asyncio.sleep(3.0)  # the sessions end (their slots go) before the next level
    return results


def wait_healthy(base: str, proc: subprocess.Popen, timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while healthz(base, timeout_s=10)[0] != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"serve run did not become healthy (exit {proc.poll()})")
        time.sleep(2.0)


def serve_levels(workdir: Path, levels: list[int], rounds: int, tree: Path = ROOT) -> dict:
    """``run_levels`` against ``serve run`` of ``tree``'s file (its own code: PYTHONPATH)."""
    model, port = ScriptedModel(), free_port()
    with FakeOpenAIServer(
        model, first_token_delay_s=FIRST_TOKEN_S, tokens_per_s=TOKENS_PER_S
    ) as srv:
        config = config_for(workdir, srv.base_url, port, max(levels), tree)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            yaml.safe_dump(config, f)
        env = {**os.environ, "RAY_ADDRESS": "local", "PYTHONPATH": str(tree)}
        proc = subprocess.Popen(
            ["serve", "run", f.name], cwd=tree, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base, proc)
            return asyncio.run(run_levels(base, levels, rounds, model))
        finally:
            os.killpg(proc.pid, signal.SIGINT)  # serve run shuts its Ray down on Ctrl-C
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            os.unlink(f.name)
            wait_ray_gone()


def wait_ray_gone(timeout_s: float = 60.0) -> None:
    """Until this machine runs no raylet: the next run starts on idle cores, not beside the
    last one's exiting workers (``ray stop --force`` if they outstay ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while subprocess.run(["pgrep", "-x", "raylet"], capture_output=True).returncode == 0:
        if time.monotonic() > deadline:
            subprocess.run(["ray", "stop", "--force"], capture_output=True)
            break
        time.sleep(1.0)


def frames_per_s(samples: list, n: int) -> float:
    """Median over rounds (``n`` turns each) of media frames over the round's longest turn."""
    rounds = [samples[i : i + n] for i in range(0, len(samples), n)]
    return statistics.median(
        sum(s.media_s for s in r) * 25 / max(s.turn_end - s.sent for s in r) for r in rounds
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--levels", type=int, nargs="+", default=[1, 2, 3, 4])
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "lipsync-bench")
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args(argv)
    from bench.lipsync import prepare

    prepare(args.workdir)
    started, load = time.strftime("%Y-%m-%d %H:%M"), os.getloadavg()
    results = serve_levels(args.workdir, args.levels, args.rounds)
    rows, best = [], 0
    for n, samples in results.items():
        rounds = [samples[i : i + n] for i in range(0, len(samples), n)]
        fps = frames_per_s(samples, n)
        rt = sum(s.real_time for s in samples)
        per_round = ", ".join(f"{sum(s.real_time for s in r)}/{n}" for r in rounds)
        rows.append([n, len(samples), f"{rt}/{len(samples)}", per_round,
                     sum(s.stalls for s in samples), f"{max(s.stalled_s for s in samples):.2f}",
                     f"{fps:.0f}"])  # fmt: skip
        if rt == len(samples) and best == n - 1:
            best = n
    body = "\n".join([
        "## Wav2Lip sessions in real time (`bench/wav2lip_sessions.py`)",
        "",
        f"{started}, {machine_line()} Load average at the start: "
        f"{' / '.join(f'{x:.2f}' for x in load)}. `serve run serve_config.wav2lip.yaml` with "
        "the random-weight int8 model and the astro pack, espeak-ng, the scripted LLM (5-sentence "
        f"reply), `server.max_sessions` {max(args.levels)}; {args.rounds} round(s) per level "
        "after a warm-up turn per session. *frames/s*: a round's media frames over its "
        "longest turn (question to `turn_end`), median over rounds.",
        "",
        markdown_table(
            ["N", "turns", "real-time turns", "each round", "stalls > 20 ms",
             "worst total wait s", "frames/s"],  # fmt: skip
            rows,
        ),
        "",
        f"Concurrent Wav2Lip sessions that played without a stall in every round: **{best}**.",
    ])  # fmt: skip
    print("\n" + body)
    if not args.no_write:
        print(f"wrote {write_section('wav2lip_sessions', body)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
