"""bench/lipsync.py's verdicts and timing rule, on made-up figures (no model runs here)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.lipsync_cpu import CPU_BATCHES, CPU_LAYOUTS, frames_per_s
from bench.lipsync_report import cpu_section
from bench.lipsync_serve import SESSIONS, serve_modes

pytestmark = pytest.mark.unit


def figures(int8_fps: float, serve_ratio: float) -> tuple[dict, dict, dict]:
    rows = []
    for precision, scale in (("fp32", 0.5), ("int8", 1.0)):
        for threads, runs in CPU_LAYOUTS:
            for batch in CPU_BATCHES:
                if runs > 1 and batch < 2 * runs:
                    continue
                fps = int8_fps * scale * (threads * runs) / 2 * (1.1 if runs > 1 else 1.0)
                rows.append([precision, threads, runs, batch, fps, 0.9])
    cpu = {
        "rows": rows,
        "psnr": 39.0,
        "peaks": {(p, t): 150.0 * t for p in ("fp32", "int8") for t in (1, 2)},
    }
    serve = {}
    for n in SESSIONS:
        base = {"first_s": 1.0, "mean_batch": 12.0, "mixed": n - 1, "busy": 0.95}
        serve[("unbatched", n)] = {**base, "fps": 10.0, "model_ms": 60.0}
        serve[("batched", n)] = {**base, "fps": 10.0 * serve_ratio, "model_ms": 40.0}
    how = {"precision": "int8", "threads": 2, "rounds": 2, "gpu": False,
           "load_before": "1.0", "load_after": "1.0"}  # fmt: skip
    return cpu, serve, how


def test_targets_are_judged_from_the_figures():
    good = cpu_section({"flops": 8e9}, *figures(int8_fps=30.0, serve_ratio=1.6))
    assert "NOT met" not in good and good.count("**met**") == 3
    bad = cpu_section({"flops": 8e9}, *figures(int8_fps=20.0, serve_ratio=1.2))
    assert bad.count("**NOT met**") == 2  # real time and batching; PSNR still holds
    assert "1.20x: **NOT met**" in bad
    assert "GPU figures" in bad  # says the GPU part is missing


def test_cpu_batching_line_splits_the_gain_between_batch_and_slicing():
    text = cpu_section({"flops": 8e9}, *figures(int8_fps=30.0, serve_ratio=1.3))
    line = next(x for x in text.splitlines() if x.startswith("- Batching on the CPU"))
    assert "1.10x per frame" in line and "gives 1.00x of it, slicing 1.10x" in line


def test_serve_modes_give_each_mode_its_own_layout():
    modes = serve_modes(2)
    assert modes["batched"] == {"max_batch_size": 16, "intra_op_threads": 1, "parallel_runs": 2}
    assert modes["unbatched"] == {"max_batch_size": 1, "intra_op_threads": 2, "parallel_runs": 1}


class CountingRunner:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def infer(self, mel, faces):
        self.calls.append(len(mel))


@pytest.mark.parametrize("batch", [1, 8, 16])
def test_every_batch_size_is_timed_on_the_same_16_frames(batch):
    run = CountingRunner()
    fps = frames_per_s(run, np.zeros((16, 1)), np.zeros((16, 1)), batch, min_s=0.0)
    assert fps > 0 and set(run.calls) == {batch}
    assert len(run.calls) % (16 // batch) == 0 and len(run.calls) >= 2 * (16 // batch)
