"""App CPU per media second of this checkout against another one, interleaved in one run.

    git worktree add /tmp/old COMMIT
    python3 bench/cpu_side_by_side.py --other /tmp/old [--size 384] [--sessions 8] [--rounds 3]

Each round runs ``bench/serve_latency.py`` (one level of ``--sessions`` sessions, one round of
turns, the sprite at ``--size``) in the other checkout, then in this one, each in a process
and a Ray of its own, and reads the level's CPU row: app CPU seconds per media second, and
the session processes' and Avatar columns. Alternating the two cancels most of a noisy machine's
drift; the ratio of medians is the figure (other / this: above 1 means this one is leaner).
Prints a table and writes the ``cpu_side_by_side`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import machine_line, markdown_table, write_section  # noqa: E402
from bench.serve_latency_cpu import CPU_HEADER  # noqa: E402

TARGET_RATIO = 1.4
COLUMNS = ("app CPU s per media s", "sessions", "Avatar", "app CPU s")
# A checkout from before sessions shared host processes calls its sessions' column this.
OLD_NAMES = {"sessions": "SessionActor"}


def commit_of(tree: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(tree), "log", "-1", "--format=%h %s"], capture_output=True, text=True
    )
    return out.stdout.strip()[:72] or str(tree)


def one_run(tree: Path, size: int, sessions: int) -> dict[str, float]:
    """One level in ``tree``'s own code: its CPU row, by column."""
    cmd = [sys.executable, "bench/serve_latency.py", "--levels", str(sessions), "--rounds", "1"]
    cmd += ["--sizes", str(size), "--no-write"]
    env = {**os.environ, "PYTHONPATH": str(tree), "RAY_ADDRESS": "local"}
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=1200)
    if proc.returncode:
        raise RuntimeError(f"serve_latency.py failed in {tree}:\n{proc.stdout[-2000:]}")
    header = "| " + " | ".join(CPU_HEADER[:4])
    lines = proc.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(header))
    names = [c.strip() for c in lines[at].strip("|").split("|")]
    row = next(line for line in lines[at + 2 :] if line.startswith(f"| {sessions} |"))
    cells = [c.strip() for c in row.strip("|").split("|")]

    def column(name: str) -> int:
        return names.index(name if name in names else OLD_NAMES[name])

    return {name: float(cells[column(name)]) for name in COLUMNS}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--other", type=Path, required=True, help="checkout to compare against")
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--sessions", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args()
    trees = {"other": args.other.resolve(), "this": ROOT}
    runs: dict[str, list[dict[str, float]]] = {"other": [], "this": []}
    started = time.strftime("%Y-%m-%d %H:%M")
    for r in range(args.rounds):
        for label, tree in trees.items():
            runs[label].append(one_run(tree, args.size, args.sessions))
            print(f"round {r + 1} {label}: {runs[label][-1]}", flush=True)
    med = {k: {c: statistics.median(x[c] for x in v) for c in COLUMNS} for k, v in runs.items()}
    rows = []
    for label, tree in trees.items():
        per_round = ", ".join(f"{x[COLUMNS[0]]:.3f}" for x in runs[label])
        rows.append(
            [f"{label}: {commit_of(tree)}", per_round, *(f"{med[label][c]:.3f}" for c in COLUMNS)]
        )
    ratio = med["other"][COLUMNS[0]] / med["this"][COLUMNS[0]]
    session_ratio = med["other"]["sessions"] / med["this"]["sessions"]
    table = markdown_table(
        ["checkout", "app CPU s per media s, each round", *(f"median {c}" for c in COLUMNS)], rows
    )
    body = (
        f"## App CPU per media second, two checkouts side by side (`bench/cpu_side_by_side.py`)\n\n"
        f"{started}, {machine_line()} {args.sessions} sessions, {args.size} px sprite, one round "
        f"of `bench/serve_latency.py` turns per run, {args.rounds} rounds alternating the two "
        f"checkouts (each run its own process and Ray). CPU seconds over the level's turns.\n\n"
        f"{table}\n\n"
        f"Ratio other / this: app CPU per media second **{ratio:.2f}x**, session processes' CPU "
        f"{session_ratio:.2f}x. Target for 384 px against main before #14 (7200123): at least "
        f"{TARGET_RATIO}x, **{'met' if ratio >= TARGET_RATIO else 'missed'}**.\n"
    )
    print(body)
    if not args.no_write:
        print("wrote", write_section("cpu_side_by_side", body))


if __name__ == "__main__":
    main()
