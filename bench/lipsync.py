"""Wav2Lip lip-sync throughput: ONNX Runtime on the CPU, and through the Serve deployments.

    python3 bench/lipsync.py [--no-write] [--skip-serve] [--gpu] [--min-seconds 3]

CPU: frames/s of fp32 and int8 (static QDQ, ``models.quantize``) at batch 1, 8 and 16 with
1 and 2 ONNX Runtime threads; the share of the compute bound reached (FLOPs per frame from
``models.wav2lip_graph.count_flops`` against a measured fp32 matmul peak on the same number
of threads); and the int8 error against fp32 as PSNR. Serve: total frames/s of 1, 4 and 8
concurrent sessions streaming through the Avatar and LipSync deployments, batched
(``max_batch_size`` 16 frames) against unbatched (1 frame per call), in one run. ``--gpu``
adds fp32 figures on CUDA at batch 1, 32 and 128 (its own section of the doc).

No Wav2Lip weights exist offline: the model is the random-weight graph of the same shape
and compute (speed is real, lip quality is not measured). Inputs are real: mel windows of
espeak-ng speech and face crops of the prepared astronaut portrait. Writes the ``lipsync``
(and ``lipsync-gpu``) sections of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import machine_line, markdown_table, write_section  # noqa: E402
from tests.shared import SHARED  # noqa: E402

CPU_BATCHES, CPU_THREADS, GPU_BATCHES = (1, 8, 16), (1, 2), (1, 32, 128)
# (threads per run, parallel runs): one call on 1 or 2 threads, or 2 one-thread slices at once.
CPU_LAYOUTS = ((1, 1), (2, 1), (1, 2))
SESSIONS, SESSION_FRAMES = (1, 4, 8), 75  # 3 s: a typical sentence
TARGET_FPS, TARGET_PSNR_DB, TARGET_BATCH_GAIN = 25.0, 30.0, 1.5


def serve_modes(threads: int) -> dict[str, dict]:
    """LipSync settings per mode, each at its best on ``threads`` cores.

    Batched: 16 frames per call, gathered across sessions, run as ``threads`` one-thread
    slices at once. Unbatched: one frame per call, spread over ``threads`` threads (a
    single frame cannot be sliced; one thread alone would run it at about half the speed).
    """
    return {
        "batched": {"max_batch_size": 16, "intra_op_threads": 1, "parallel_runs": threads},
        "unbatched": {"max_batch_size": 1, "intra_op_threads": threads, "parallel_runs": 1},
    }


def prepare(workdir: Path) -> dict:
    """The fp32 and int8 models, the astro pack and real model inputs (cached in workdir)."""
    from actors.avatar.prepare import AvatarPack, prepare_avatar
    from models.quantize import face_windows, quantize_wav2lip, speech_windows
    from models.wav2lip_graph import build_wav2lip_onnx, count_flops

    workdir.mkdir(parents=True, exist_ok=True)
    fp32, int8 = workdir / "wav2lip.onnx", workdir / "wav2lip_int8.onnx"
    avatars = workdir / "avatars"
    if not (avatars / "astro" / "meta.json").is_file():
        prepare_avatar(
            SHARED / "data" / "portrait_astronaut.png",
            name="astro",
            avatars_dir=avatars,
            models_dir=SHARED / "models",
        )
    crops = AvatarPack.load(avatars, "astro").crops
    mel, faces = speech_windows(128), face_windows(crops, 128)
    if not fp32.is_file():
        print("building the random-weight Wav2Lip graph ...", flush=True)
        build_wav2lip_onnx(fp32, seed=0)
    if not int8.is_file():
        print("quantising to int8 (calibrated on speech and the portrait) ...", flush=True)
        quantize_wav2lip(fp32, int8, mel[::4], faces[::4])
    return {"fp32": fp32, "int8": int8, "mel": mel, "faces": faces, "avatars": avatars,
            "flops": count_flops(fp32)}  # fmt: skip


def runner(path: Path, threads: int | None, providers: list[str], runs: int = 1):
    from actors.avatar.wav2lip import Wav2LipRunner

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


async def _serve_run(avatar, lipsync, audio, n_sessions: int) -> dict:
    async def session(i: int):
        t, first, frames = time.perf_counter(), None, 0
        stream = avatar.options(stream=True).talking.remote(audio, 0, len(audio.pcm), f"s{i}")
        async for chunk in stream:
            first = first or time.perf_counter() - t
            frames += len(chunk)
        return frames, first

    await lipsync.reset_stats.remote()
    t = time.perf_counter()
    done = await asyncio.gather(*(session(i) for i in range(n_sessions)))
    wall = time.perf_counter() - t
    stats = await lipsync.stats.remote()
    batches = stats["frames_per_batch"]
    mean_batch = sum(k * v for k, v in batches.items()) / max(1, sum(batches.values()))
    frames = sum(f for f, _ in done)
    return {"fps": frames / wall, "first_s": statistics.median(f for _, f in done),
            "mean_batch": mean_batch, "mixed": stats["mixed_batches"],
            "busy": stats["busy_s"] / wall, "model_ms": 1e3 * stats["busy_s"] / frames}  # fmt: skip


def serve_figures(m: dict, precision: str, threads: int, rounds: int) -> dict:
    """Best total frames/s of each (mode, sessions) over ``rounds`` interleaved rounds."""
    import ray
    from ray import serve

    from actors.messages import TTSAudio
    from config import Settings
    from serve_app.lipsync import LipSync
    from serve_app.wav2lip_avatar import Wav2LipAvatarDeployment
    from tests.serve_fixtures import free_port

    settings = Settings.load(
        {"avatar": {"kind": "wav2lip", "name": "astro"}, "avatars_dir": str(m["avatars"]),
         "models_dir": str(m["fp32"].parent),
         "lipsync": {"precision": precision, "intra_op_threads": threads,
                     "providers": ["CPUExecutionProvider"]}},
        env={},
    )  # fmt: skip
    data = settings.model_dump(mode="json", exclude={"llm": {"api_key"}})
    pcm = np.random.default_rng(0).normal(0, 3000, SESSION_FRAMES * 960).astype(np.int16)
    audio = TTSAudio(pcm, 24000, "bench")  # 24 kHz speech-like noise, SESSION_FRAMES frames
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
    results: dict = {}
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": free_port()})  # not 8000: shared
        apps = {}  # one app per mode, side by side: no redeploy between runs, only one busy
        for mode, options in serve_modes(threads).items():
            lipsync_data = {**data, "lipsync": {**data["lipsync"], **options}}
            size = options["max_batch_size"]
            pool = LipSync.options(user_config={"max_batch_size": size}).bind(lipsync_data)
            name = f"lipsync-bench-{mode}"
            app = Wav2LipAvatarDeployment.bind(data, pool)
            avatar = serve.run(app, name=name, route_prefix=f"/{name}")
            lipsync = serve.get_deployment_handle("LipSync", app_name=name)
            asyncio.run(_serve_run(avatar, lipsync, audio, 1))  # warm up
            apps[mode] = avatar, lipsync
        for _ in range(rounds):  # interleaved, so both modes see the same neighbours
            for n in SESSIONS:
                for mode, (avatar, lipsync) in apps.items():
                    r = asyncio.run(_serve_run(avatar, lipsync, audio, n))
                    print(f"  serve {mode} sessions={n}: {r['fps']:.2f} fps", flush=True)
                    if r["fps"] > results.get((mode, n), {"fps": 0.0})["fps"]:
                        results[(mode, n)] = r
    finally:
        serve.shutdown()
        ray.shutdown()
    return results


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


def _fps(cpu: dict, precision: str, threads: int, runs: int, batch: int) -> float:
    return next(r[4] for r in cpu["rows"] if tuple(r[:4]) == (precision, threads, runs, batch))


def cpu_section(m: dict, cpu: dict, serve: dict | None, how: dict) -> str:
    gflop = m["flops"] / 1e9
    rows = [[p, t, n, b, f"{fps:.2f}", f"{share:.0%}"] for p, t, n, b, fps, share in cpu["rows"]]
    best_int8 = max(r[4] for r in cpu["rows"] if r[0] == "int8")
    best_fp32 = max(r[4] for r in cpu["rows"] if r[0] == "fp32")
    bounds = ", ".join(
        f"{p} {v:.0f} G{'FLOP' if p == 'fp32' else 'OP'}/s on {t} thread(s)"
        for (p, t), v in cpu["peaks"].items()
    )
    top = max(CPU_THREADS)
    needed = TARGET_FPS * gflop
    gp, big = how["precision"], max(CPU_BATCHES)
    # What batching buys on `top` cores: the best layout for batch 16 (slices on one thread
    # each) against the best for batch 1 (one frame cannot be sliced: all threads on it).
    sliced, spread = _fps(cpu, gp, 1, top, big), _fps(cpu, gp, top, 1, 1)
    cpu_gain = sliced / spread
    ok = lambda cond: "met" if cond else "NOT met"  # noqa: E731
    fp32_top, int8_top = cpu["peaks"][("fp32", top)], cpu["peaks"][("int8", top)]
    reach = (
        "even fp32 could in principle"
        if fp32_top >= needed
        else "only int8 can in principle"
        if int8_top >= needed
        else "by these bounds neither precision can"
    )
    parts = [
        "## Lip-sync (Wav2Lip, `bench/lipsync.py`)",
        "",
        machine_line(),
        f"Load average (1/5/15 min) before the run: {how['load_before']}, after: "
        f"{how['load_after']}. Each figure is the best of {how['rounds']} interleaved rounds "
        "(CPU: of the fastest 16-frame pass in each): neighbours only ever slow a run. On "
        "this VM the same configuration has measured up to several times apart when other "
        "jobs loaded it (load averages of 5 to 90): compare figures within one run.",
        f"Model: random-weight Wav2Lip graph (no weights offline; same layers and compute), "
        f"{gflop:.2f} GFLOP per frame (conv MACs x 2). Compute bound: the fastest large "
        f"matmul (fp32: ONNX Runtime `MatMul` or NumPy's BLAS, int8: ONNX Runtime "
        f"`MatMulInteger`), {bounds}; each row's share is against its own precision and "
        "the cores it uses.",
        "",
        "### ONNX Runtime on the CPU (frames/s)",
        "",
        "A row is one inference call of `batch` frames. `runs` > 1 slices the batch and runs "
        "the slices at once (`lipsync.parallel_runs`), each on `threads` threads; the share "
        "of bound is against the bound on threads x runs cores.",
        "",
        markdown_table(
            ["precision", "threads", "runs", "batch", "frames/s", "share of bound"], rows
        ),
        "",
        f"int8 (static QDQ, `models/quantize.py`) against fp32 on 16 frames of speech on the "
        f"portrait: PSNR {cpu['psnr']:.1f} dB.",
        "",
        f"- Target: one session in real time ({TARGET_FPS:.0f} fps) with int8 — best int8 "
        f"{best_int8:.1f} fps (best fp32 {best_fp32:.1f}): **{ok(best_int8 >= TARGET_FPS)}**. "
        f"{TARGET_FPS:.0f} fps needs {needed:.0f} G(FL)OP/s; the measured bounds on {top} "
        f"threads are fp32 {fp32_top:.0f} GFLOP/s and int8 {int8_top:.0f} GOP/s: " + reach + ".",
        f"- Target: int8 PSNR >= {TARGET_PSNR_DB:.0f} dB against fp32 — "
        f"{cpu['psnr']:.1f} dB: **{ok(cpu['psnr'] >= TARGET_PSNR_DB)}**.",
        f"- Batching on the CPU ({gp}, {top} cores): batch {big} as {top} one-thread slices "
        f"{sliced:.1f} fps against batch 1 on {top} threads {spread:.1f} fps: "
        f"{cpu_gain:.2f}x per frame. The gain is not in the kernels (batch {big} against 1 on "
        f"the same layout: {_fps(cpu, gp, top, 1, big) / spread:.2f}x) but in slicing: a "
        "slice per core does not synchronise threads at every layer, which a single frame "
        "spread over several threads must.",
    ]
    if serve:
        srows, gains = [], {}
        for n in SESSIONS:
            b, u = serve[("batched", n)], serve[("unbatched", n)]
            gains[n] = b["fps"] / u["fps"]
            srows.append([n, f"{b['fps']:.2f}", f"{u['fps']:.2f}", f"{gains[n]:.2f}x",
                          f"{b['mean_batch']:.1f}", b["mixed"], f"{b['model_ms']:.0f}",
                          f"{u['model_ms']:.0f}", f"{b['busy']:.0%}", f"{b['first_s']:.2f}",
                          f"{u['first_s']:.2f}"])  # fmt: skip
        header = ["sessions", "batched fps", "unbatched fps", "ratio", "frames/call (b)",
                  "mixed calls (b)", "model ms/frame (b)", "model ms/frame (u)", "model busy (b)",
                  "first chunk s (b)", "first chunk s (u)"]  # fmt: skip
        gain, last = gains[SESSIONS[-1]], serve[("batched", SESSIONS[-1])]
        raw_ms = 1e3 / sliced
        parts += [
            "",
            f"### Through Serve (Avatar + LipSync deployments, {how['precision']}, one LipSync "
            f"replica on {how['threads']} cores, {SESSION_FRAMES} frames per session in "
            f"chunks of 8, best of {how['rounds']} interleaved rounds)",
            "",
            f"Each mode runs at its best layout on {how['threads']} cores (`serve_modes`). "
            f"Batched: `lipsync.max_batch_size` 16 frames per call, gathered across sessions, "
            f"run as {how['threads']} one-thread slices at once. Unbatched: 1 frame per call on "
            f"{how['threads']} threads. Frames/s are totals over all sessions; model ms/frame "
            "is the replica's time inside inference calls per frame; model busy is the share "
            "of the run it spent there.",
            "",
            markdown_table(header, srows),
            "",
            f"- Target: batching across {SESSIONS[-1]} sessions >= {TARGET_BATCH_GAIN}x the "
            f"unbatched throughput — {gain:.2f}x: **{ok(gain >= TARGET_BATCH_GAIN)}**.",
            f"- Where the ceiling is: ONNX Runtime alone gains {cpu_gain:.2f}x from batching "
            f"on these cores (table above), and through Serve the model is busy "
            f"{last['busy']:.0%} of the time at {SESSIONS[-1]} sessions, at "
            f"{last['model_ms']:.0f} ms per frame against {raw_ms:.0f} ms alone: the rest of "
            "the CPU goes to the Avatar replica (mel, faces, paste-back), Ray and Serve on the "
            "same 2 cores. A batched Serve pool cannot beat the kernels' own ratio by more "
            "than the per-call overhead it saves; on a GPU one frame leaves most of the chip "
            "idle, and that is where batching pays (`--gpu`).",
            "- Run-to-run noise on a shared VM moves these figures (see the note at the top).",
        ]
    if not how.get("gpu"):
        parts += [
            "",
            "GPU figures (`--gpu`: fp32 on CUDA at batch 1, 32 and 128) go into the "
            "`lipsync-gpu` section when the script runs on a GPU machine; this run had none.",
        ]
    return "\n".join(parts)


def _load() -> str:
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "lipsync-bench")
    p.add_argument("--min-seconds", type=float, default=4.0, help="CPU timing per configuration")
    p.add_argument("--serve-precision", choices=["fp32", "int8"], default="int8")
    p.add_argument(
        "--serve-threads",
        type=int,
        default=os.cpu_count() or 2,
        help="cores for the LipSync replica",
    )
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds (best kept)")
    p.add_argument("--skip-cpu", action="store_true", help="only --gpu (GPU machines)")
    p.add_argument("--skip-serve", action="store_true")
    p.add_argument("--gpu", action="store_true", help="also fp32 on CUDA, batch 1/32/128")
    p.add_argument("--no-write", action="store_true", help="print only; leave the doc alone")
    args = p.parse_args(argv)
    how = {"load_before": _load(), "precision": args.serve_precision, "gpu": args.gpu,
           "threads": args.serve_threads, "rounds": args.rounds}  # fmt: skip
    m = prepare(args.workdir)
    if not args.skip_cpu:
        print("CPU:", flush=True)
        cpu = cpu_figures(m, args.min_seconds, args.rounds)
        serve = None
        if not args.skip_serve:
            print("Serve:", flush=True)
            serve = serve_figures(m, args.serve_precision, args.serve_threads, args.rounds)
        how["load_after"] = _load()
        body = cpu_section(m, cpu, serve, how)
        print("\n" + body)
        if not args.no_write:
            print(f"wrote {write_section('lipsync', body)}")
    if args.gpu:
        print("GPU:", flush=True)
        rows = [[b, f"{fps:.0f}", f"{tf:.1f}"] for b, fps, tf in gpu_figures(m, args.min_seconds)]
        body = "\n".join(
            ["## Lip-sync on a GPU (`bench/lipsync.py --gpu`, fp32, CUDA)", "",
             markdown_table(["batch", "frames/s", "TFLOP/s"], rows)]
        )  # fmt: skip
        print("\n" + body)
        if not args.no_write:
            write_section("lipsync-gpu", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
