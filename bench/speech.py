"""Voice input costs: VAD per window, ASR per utterance, and barge-in latency end to end.

    python3 bench/speech.py [--trials 20] [--sweep 64 128] [--sweep-trials 10] [--cpu 0]
                            [--no-write]

1. VAD: ``SileroVAD`` on one core (``os.sched_setaffinity``), fed a ~17 s espeak-ng stream in
   20 ms chunks (streaming: one window per model call, or none) and in one call (batched).
   CPU (process) and wall time per 512-sample (32 ms) window. Target: < 1 ms per window.
2. ASR: ``WhisperASR`` on CPU int8 with the tiny random-weight test model
   (tests/fakes/tiny_whisper.py; no real Whisper can be downloaded here) on a 3.0 s utterance,
   language fixed / detected, beam 1 / 5; one warm-up, then the median of ``--asr-repeats``.
3. Barge-in: the real app (``running_app``; echo LLM, espeak-ng, sprite avatar, the scripted
   ASR), one app and WebSocket session per ``vad.barge_in_ms`` value (default plus
   ``--sweep``), trials alternating between them. Each trial asks a 12-sentence text; once
   its first media fragment arrives, microphone audio is streamed in real time (20 ms chunks
   on a wall-clock schedule): 0.3-0.8 s of silence, an espeak-ng question, 1 s of silence.
   Speech onset is the first sample of the question (trimmed at -40 dB); its wall time is the
   send time of the chunk holding it plus its offset in the chunk (so microphone capture
   buffering is not counted). Measured: onset -> arrival of the last media message of the
   interrupted turn (0 if it came before the onset) and onset -> the ``interrupted`` event. A
   local replica of the session's VAD, fed the same chunks, splits the latter into VAD model
   lag, run needed, and the server path. Target: p95 < 250 ms with the default settings.

Prints tables and writes the ``speech`` section of docs/benchmarks.md. The parts:
``speech_cost.py`` (VAD and ASR), ``speech_barge.py`` (the barge-in trials) and
``speech_report.py`` (tables and the doc section) beside this file.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import markdown_table, write_section  # noqa: E402
from bench.speech_barge import run_barge_in  # noqa: E402
from bench.speech_cost import ASR_HEADER, VAD_HEADER, asr_latency, vad_cost  # noqa: E402
from bench.speech_report import BARGE_HEADER, barge_rows, section  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=20, help="barge-in trials, default settings")
    p.add_argument("--sweep", type=int, nargs="*", default=[64, 128], help="other barge_in_ms")
    p.add_argument("--sweep-trials", type=int, default=10)
    p.add_argument("--asr-repeats", type=int, default=10)
    p.add_argument("--cpu", type=int, default=0, help="core for the VAD measurement")
    p.add_argument("--num-cpus", type=int, default=4, help="logical CPUs Ray is told about")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args(argv)
    if args.trials < 1 or args.sweep_trials < 1 or args.asr_repeats < 1:
        p.error("--trials, --sweep-trials and --asr-repeats must be >= 1")
    if any(ms < 32 for ms in args.sweep):
        p.error("--sweep values must be >= 32 (vad.barge_in_ms)")
    load, t0 = os.getloadavg(), time.perf_counter()

    print("VAD cost per window", flush=True)
    vad_rows = vad_cost(args.cpu)
    print(markdown_table(VAD_HEADER, vad_rows), flush=True)
    print("ASR latency (tiny test model)", flush=True)
    asr_rows = asr_latency(args.asr_repeats)
    print(markdown_table(ASR_HEADER, asr_rows), flush=True)
    print("Barge-in latency", flush=True)
    by_ms = run_barge_in(args)
    print(markdown_table(BARGE_HEADER, barge_rows(by_ms)), flush=True)

    text = section(vad_rows, asr_rows, by_ms, args, load, time.perf_counter() - t0)
    print(text)
    if not args.no_write:
        print(f"wrote section 'speech' of {write_section('speech', text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
