"""``bench/speech.py``'s cost figures: VAD per 32 ms window and ASR per 3 s utterance.

Also the audio constants (sample rate, 20 ms microphone chunk) and the percentile helpers
that the barge-in trials and the report share.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.report import pct

RATE = 16000
CHUNK = 320  # 20 ms of microphone audio per message
CHUNK_S = CHUNK / RATE
VAD_TEXTS = [
    "Good morning, could you tell me about the weather?",
    "Sure, and what should I wear for a long walk?",
    "Thanks. Is it going to rain later this evening?",
    "Sounds good, see you tomorrow.",
]
ASR_TEXT = "Can you tell me what the weather will be like?"


# --- 1. VAD cost -------------------------------------------------------------------------


def vad_cost(cpu: int, whole_repeats: int = 5) -> list[list]:
    from actors.engines.vad.silero import SileroVAD
    from actors.engines.vad.silero_model import WINDOW, shared_model
    from tests.fakes.speech import speech_with_silence

    gaps = [0.8, 1.5, 2.5, 1.0, 1.5]
    pcm, _ = speech_with_silence(VAD_TEXTS, gaps, noise_snr_db=25, noise="pink")
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        shared_model()  # the load is not part of the per-window cost
        SileroVAD().feed(pcm[: 8 * WINDOW])  # warm-up
        vad = SileroVAD()
        cpu_ms, wall_ms = [], []
        scored = 0
        for at in range(0, len(pcm), CHUNK):
            c0, w0 = time.process_time(), time.perf_counter()
            vad.feed(pcm[at : at + CHUNK])
            c1, w1 = time.process_time(), time.perf_counter()
            n = round(vad.stream_s * RATE) // WINDOW - scored
            scored += n
            if n:  # calls that only buffered samples cost microseconds: not a window's cost
                cpu_ms.append(1000 * (c1 - c0) / n)
                wall_ms.append(1000 * (w1 - w0) / n)
        whole_cpu, whole_wall = [], []
        n_windows = len(pcm) // WINDOW
        for _ in range(whole_repeats):
            vad = SileroVAD()
            c0, w0 = time.process_time(), time.perf_counter()
            vad.feed(pcm)
            c1, w1 = time.process_time(), time.perf_counter()
            whole_cpu.append(1000 * (c1 - c0) / n_windows)
            whole_wall.append(1000 * (w1 - w0) / n_windows)
    finally:
        os.sched_setaffinity(0, affinity)
    return [
        ["streaming, 20 ms chunks", f"{len(cpu_ms)} windows", *_p(cpu_ms), *_p(wall_ms)],
        [
            f"whole stream ({len(pcm) / RATE:.0f} s) in one call",
            f"{whole_repeats} runs",
            *_p(whole_cpu),
            *_p(whole_wall),
        ],
    ]


def _p(values: list[float]) -> list[str]:
    return [f"{pct(values, 0.5):.3f}", f"{pct(values, 0.95):.3f}"]


VAD_HEADER = ["feeding", "samples", "CPU ms p50", "CPU ms p95", "wall ms p50", "wall ms p95"]


# --- 2. ASR latency ----------------------------------------------------------------------


def three_second_utterance() -> np.ndarray:
    from tests.fakes.speech import speech_with_silence

    spoken, _ = speech_with_silence([ASR_TEXT], [0.0, 0.0])
    pad = (3.0 * RATE - len(spoken)) / 2 / RATE
    if pad < 0:
        raise RuntimeError(f"the ASR text lasts {len(spoken) / RATE:.2f} s, over 3 s")
    pcm, _ = speech_with_silence([ASR_TEXT], [pad, pad])
    return pcm[: 3 * RATE]


def asr_latency(repeats: int) -> list[list]:
    from actors.engines.asr import WhisperASR, utterance_of
    from tests.fakes.tiny_whisper import build_tiny_whisper

    utterance = utterance_of(three_second_utterance())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = str(build_tiny_whisper(Path(tmp) / "tiny-whisper"))
        for language, beam, threads in [
            ("en", 1, 0),
            ("en", 5, 0),
            (None, 1, 0),
            (None, 5, 0),
            ("en", 1, 1),
        ]:
            asr = WhisperASR(
                model=model,
                device="cpu",
                compute_type="int8",
                language=language,
                beam_size=beam,
                cpu_threads=threads,
            )
            asr.transcribe(utterance)  # warm-up
            wall, cpu = [], []
            for _ in range(repeats):
                c0, w0 = time.process_time(), time.perf_counter()
                asr.transcribe(utterance)
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - w0)
            rows.append(
                [
                    language or "detected",
                    beam,
                    threads or "default (0)",
                    f"{1000 * statistics.median(wall):.0f}",
                    f"{1000 * min(wall):.0f}",
                    f"{1000 * max(wall):.0f}",
                    f"{1000 * statistics.median(cpu):.0f}",
                ]
            )
            print(f"  ASR {rows[-1]}", flush=True)
            del asr
    return rows


ASR_HEADER = ["language", "beam", "cpu_threads", "wall ms p50", "min", "max", "CPU ms p50"]
