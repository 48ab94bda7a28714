"""Wav2Lip frames/s through Serve, this checkout against another one, interleaved in one run.

    git worktree add /tmp/old COMMIT
    python3 bench/wav2lip_side_by_side.py --other /tmp/old [--sessions 8] [--pairs 2]

Each pair runs ``bench/wav2lip_sessions.py``'s measurement (``serve run`` of the checkout's own
``serve_config.wav2lip.yaml`` with the random-weight int8 model, the astro pack, espeak-ng and
the scripted LLM; ``--sessions`` sessions ask at the same moment after a warm-up turn each, one
round) in the other checkout, then in this one, each a ``serve run`` and Ray of its own. The
figure is a round's media frames over its longest turn; the ratio of the medians (this / other:
above 1 means this one is faster). Prints a table and writes the ``wav2lip_side_by_side``
section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cpu_side_by_side import commit_of  # noqa: E402
from bench.report import machine_line, markdown_table, write_section  # noqa: E402
from bench.wav2lip_sessions import frames_per_s, serve_levels  # noqa: E402

TARGET_RATIO = 1.25


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--other", type=Path, required=True, help="checkout to compare against")
    p.add_argument("--sessions", type=int, default=8)
    p.add_argument("--pairs", type=int, default=2)
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "lipsync-bench")
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args(argv)
    from bench.lipsync import prepare

    prepare(args.workdir)
    trees = {"other": args.other.resolve(), "this": ROOT}
    fps: dict[str, list[float]] = {"other": [], "this": []}
    stalls: dict[str, list[int]] = {"other": [], "this": []}
    retries = {"other": 0, "this": 0}
    started, load = time.strftime("%Y-%m-%d %H:%M"), os.getloadavg()
    n = args.sessions
    for pair in range(args.pairs):
        for label, tree in trees.items():
            try:
                samples = serve_levels(args.workdir, [n], 1, tree)[n]
            except TimeoutError:  # a session did not start in the client's wait: once more
                print(f"pair {pair + 1} {label}: a session did not start; run again", flush=True)
                retries[label] += 1
                samples = serve_levels(args.workdir, [n], 1, tree)[n]
            fps[label].append(frames_per_s(samples, n))
            stalls[label].append(sum(s.stalls for s in samples))
            print(f"pair {pair + 1} {label}: {fps[label][-1]:.1f} frames/s", flush=True)
    med = {k: statistics.median(v) for k, v in fps.items()}
    ratio = med["this"] / med["other"]
    rows = [
        [f"{label}: {commit_of(tree)}", ", ".join(f"{x:.1f}" for x in fps[label]),
         f"{med[label]:.1f}", ", ".join(map(str, stalls[label]))]
        for label, tree in trees.items()
    ]  # fmt: skip
    verdict = "met" if ratio >= TARGET_RATIO else "missed"
    body = "\n".join([
        "## Wav2Lip through Serve, two checkouts side by side (`bench/wav2lip_side_by_side.py`)",
        "",
        f"{started}, {machine_line()} Load average at the start: "
        f"{' / '.join(f'{x:.2f}' for x in load)}. Each checkout's `serve run "
        "serve_config.wav2lip.yaml` (random-weight int8 model, astro pack, espeak-ng, the "
        f"scripted 5-sentence reply), {n} sessions asking at the same moment after a warm-up "
        f"turn each, {args.pairs} pair(s) of runs alternating the checkouts. *frames/s*: the "
        "round's media frames over its longest turn.",
        "",
        markdown_table(["checkout", "frames/s, each run", "median", "stalls > 20 ms, each run"],
                       rows),  # fmt: skip
        "",
        f"Ratio this / other: **{ratio:.2f}x**. Target against main before #14: at least "
        f"{TARGET_RATIO}x, **{verdict}**. Runs started again because a session did not send "
        f"`session` within the client's 120 s: other {retries['other']}, this "
        f"{retries['this']}.",
    ])  # fmt: skip
    print("\n" + body)
    if not args.no_write:
        print(f"wrote {write_section('wav2lip_side_by_side', body)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
