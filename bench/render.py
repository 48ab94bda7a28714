"""Per-stage time and real-time factor of the ``say`` path on one core.

    python3 bench/render.py [--sizes 256 384 512] [--repeats 3] [--cpu 0] [--no-write]

Speaks a ~30 s paragraph with espeak-ng, then times each stage on its own (TTS per
sentence, sprite avatar render, fragmented-MP4 encode) and the whole in-process pipeline
(``LocalStages.pipeline()`` with the verbatim source, as ``avatar-chat say`` runs it).
Real-time factor (RTF) = media seconds / compute seconds; the target is avatar render plus
encode at least 10x faster than real time on one core. Prints a table and writes the
``render`` section of docs/benchmarks.md. Figures are medians over ``--repeats`` runs.
The parts: ``render_stages.py`` (timing the stages and the pipeline) and ``render_report.py``
(the tables and the doc section) beside this file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Nothing these import at the top loads numpy, cv2 or av: pin_one_core() must come first.
from bench.render_report import report  # noqa: E402
from bench.render_stages import (  # noqa: E402
    PARAGRAPH,
    profile_encode,
    run_pipeline,
    thread_count,
    time_render_encode,
    time_tts,
)
from bench.report import write_section  # noqa: E402

# Thread pools of BLAS/OpenMP/OpenCV read these once, at import: set before numpy/cv2/av load.
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def pin_one_core(cpu: int) -> None:
    for var in THREAD_VARS:
        os.environ[var] = "1"
    os.sched_setaffinity(0, {cpu})


def _settings(size: int):
    from config import Settings

    # env={}: the environment must not switch the engine or model under the benchmark
    return Settings.load({"tts": {"engine": "espeak"}, "avatar": {"size": size}}, env={})


def _median(runs: list[dict], key: str):
    """Median of a (wall, CPU) pair or of a number over the runs."""
    values = [r[key] for r in runs]
    if isinstance(values[0], tuple):
        return tuple(statistics.median(v[i] for v in values) for i in range(2))
    return statistics.median(values)


def measure(sizes: list[int], repeats: int) -> dict:
    import asyncio

    import cv2

    from actors.pipeline.local_stages import LocalStages
    from actors.pipeline.splitter import SentenceSplitter

    cv2.setNumThreads(1)
    splitter = SentenceSplitter()
    sentences = splitter.push(PARAGRAPH) + splitter.flush()
    base = _settings(sizes[0])
    tts_runs = [time_tts(base, sentences) for _ in range(repeats)]
    audios = tts_runs[0][1]
    out = {
        "words": len(PARAGRAPH.split()),
        "sentences": len(sentences),
        "media_s": sum(len(a.pcm) for a in audios) / audios[0].sample_rate,
        "tts": _median([{"tts": r[0]} for r in tts_runs], "tts"),
        "threads_before": thread_count(),
        "sizes": {},
    }
    for size in sizes:
        stages = LocalStages(_settings(size))
        runs = [time_render_encode(stages, audios) for _ in range(repeats)]
        pipe = [asyncio.run(run_pipeline(stages)) for _ in range(repeats)]
        row = {k: _median(runs, k) for k in ("frames", "avatar", "encode", "both")}
        row["threads"] = max(r["threads"] for r in runs)
        row["encode_parts"] = profile_encode(stages, audios)
        row.update({k: _median(pipe, k) for k in ("pipeline", "media_s", "first_media")})
        out["sizes"][size] = row
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 384, 512])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cpu", type=int, default=0, help="the one CPU to run on")
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    pin_one_core(args.cpu)
    load = os.getloadavg()
    res = measure(args.sizes, args.repeats)
    text = report(res, cpu=args.cpu, repeats=args.repeats, load=load)
    print(text)
    if not args.no_write:
        print(f"wrote section 'render' of {write_section('render', text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
