"""``bench/lipsync.py``'s ONNX Runtime figures: CPU layouts and batch sizes, bounds, GPU."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

CPU_BATCHES, CPU_THREADS, GPU_BATCHES = (1, 8, 16), (1, 2), (1, 32, 128)
# (threads per run, parallel runs): one call on 1 or 2 threads, or 2 one-thread slices at once.
CPU_LAYOUTS = ((1, 1), (2, 1), (1, 2))


def runner(path: Path, threads: int | None, providers: list[str], runs: int = 1):
    from actors.engines.avatar.wav2lip_runner import Wav2LipRunner

    return Wav2LipRunner(
        model_path=path, providers=providers, intra_op_threads=threads, parallel_runs=runs
    )


def frames_per_s(run, mel, faces, batch: int, min_s: float, unit: int = 16) -> float:
    """From the fastest of at least 2 passes over ``unit`` frames (``min_s`` in all).

    A pass is ``unit / batch`` calls, so every batch size is timed on the same work: the
    fastest of many short calls would flatter small batches (more tries at a quiet moment).
    The fastest, not the median: on a shared machine other processes only ever slow a pass.
    """
    unit = max(unit, batch) // batch * batch
    mel, faces = mel[:unit], faces[:unit]
    times, start = [], time.perf_counter()
    while len(times) < 2 or time.perf_counter() - start < min_s:
        t = time.perf_counter()
        for i in range(0, unit, batch):
            run.infer(mel[i : i + batch], faces[i : i + batch])
        times.append(time.perf_counter() - t)
    return unit / min(times)


def matmul_peak_gops(precision: str, threads: int, n: int = 1536, repeats: int = 20) -> float:
    """Fastest rate of one big ONNX Runtime matmul (the practical compute bound).

    fp32: ``MatMul``; int8: ``MatMulInteger`` (u8 x s8, what the QDQ convolutions run on).
    """
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if precision == "fp32":
        a, b = rng.standard_normal((2, n, n), dtype=np.float32)
        node = helper.make_node("MatMul", ["a", "b"], ["y"])
        a_type, y_type = TensorProto.FLOAT, TensorProto.FLOAT
    else:
        a = rng.integers(0, 255, (n, n), dtype=np.uint8)
        b = rng.integers(-127, 127, (n, n), dtype=np.int8)
        node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
        a_type, y_type = TensorProto.UINT8, TensorProto.INT32
    graph = helper.make_graph(
        [node], "peak", [helper.make_tensor_value_info("a", a_type, [n, n])],
        [helper.make_tensor_value_info("y", y_type, [n, n])],
        initializer=[numpy_helper.from_array(b, "b")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    session.run(None, {"a": a})
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        session.run(None, {"a": a})
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def blas_peak_gflops(threads: int, n: int = 1536, repeats: int = 10) -> float:
    """Fastest fp32 matmul of NumPy's BLAS on ``threads`` threads."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    best = float("inf")
    with threadpool_limits(limits=threads):
        a @ a
        for _ in range(repeats):
            t = time.perf_counter()
            a @ a
            best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def peaks() -> dict:
    """(precision, threads) -> bound; fp32: the better of ORT's MatMul and NumPy's BLAS."""
    out = {(p, t): matmul_peak_gops(p, t) for p in ("fp32", "int8") for t in CPU_THREADS}
    for t in CPU_THREADS:
        out[("fp32", t)] = max(out[("fp32", t)], blas_peak_gflops(t))
    return out


def cpu_figures(m: dict, min_s: float, rounds: int) -> dict:
    """Every configuration once per round (interleaved), the best round kept."""
    bound = peaks()
    runs, outputs, best = {}, {}, {}
    for precision in ("fp32", "int8"):
        for threads, n_runs in CPU_LAYOUTS:
            run = runs[(precision, threads, n_runs)] = runner(
                m[precision], threads, ["CPUExecutionProvider"], n_runs
            )
            outputs[precision] = run.infer(m["mel"][:16], m["faces"][:16])  # also a warm-up
    for r in range(rounds):
        for (precision, threads, n_runs), run in runs.items():
            for batch in CPU_BATCHES:
                if n_runs > 1 and batch < 2 * n_runs:  # too small to slice: same as 1 run
                    continue
                fps = frames_per_s(run, m["mel"], m["faces"], batch, min_s / rounds)
                key = (precision, threads, n_runs, batch)
                best[key] = max(fps, best.get(key, 0.0))
                print(f"  round {r + 1}: {precision} threads={threads} runs={n_runs} "
                      f"batch={batch}: {fps:.2f} fps", flush=True)  # fmt: skip
    # Measured again after the table and the best kept: a busy neighbour only lowers it.
    bound = {k: max(v, w) for (k, v), w in zip(bound.items(), peaks().values(), strict=True)}
    rows = [  # the share is against the bound on all the cores the layout uses
        [p, t, n, b, fps, fps * m["flops"] / 1e9 / bound[(p, t * n)]]
        for (p, t, n, b), fps in best.items()
    ]
    from models.quantize import psnr

    return {"peaks": bound, "rows": rows, "psnr": psnr(outputs["fp32"], outputs["int8"])}


def gpu_figures(m: dict, min_s: float) -> list:
    try:
        run = runner(m["fp32"], None, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    except ValueError as exc:  # onnxruntime without CUDA (install onnxruntime-gpu)
        raise SystemExit(f"--gpu: CUDA is not available to ONNX Runtime: {exc}") from None
    reps = -(-max(GPU_BATCHES) // len(m["mel"]))
    mel, faces = np.concatenate([m["mel"]] * reps), np.concatenate([m["faces"]] * reps)
    rows = []
    for batch in GPU_BATCHES:
        fps = frames_per_s(run, mel, faces, batch, min_s)
        rows.append((batch, fps, fps * m["flops"] / 1e12))
        print(f"  cuda fp32 batch={batch}: {fps:.0f} fps", flush=True)
    return rows
