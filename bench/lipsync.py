"""Wav2Lip lip-sync throughput: ONNX Runtime on the CPU, and through the Serve deployments.

    python3 bench/lipsync.py [--no-write] [--skip-serve] [--gpu] [--min-seconds 3]

CPU: frames/s of fp32 and int8 (static QDQ, ``models.quantize``) at batch 1, 8 and 16, as
one call on 1 or 2 ONNX Runtime threads or as 2 one-thread slices at once; the share of the
compute bound reached (FLOPs per frame from ``models.wav2lip_graph.count_flops`` against a
measured matmul peak on the same number of cores); and the int8 error against fp32 as PSNR.
Serve: total frames/s of 1, 4 and 8 concurrent sessions streaming through the Avatar and
LipSync deployments, batched (``max_batch_size`` 16 frames) against unbatched (1 frame per
call), each at its best layout, in one run. ``--gpu`` adds fp32 figures on CUDA at batch 1,
32 and 128 (its own section of the doc).

No Wav2Lip weights exist offline: the model is the random-weight graph of the same shape
and compute (speed is real, lip quality is not measured). Inputs are real: mel windows of
espeak-ng speech and face crops of the prepared astronaut portrait. Writes the ``lipsync``
(and ``lipsync-gpu``) sections of docs/benchmarks.md. The parts: ``lipsync_cpu.py``,
``lipsync_serve.py`` and ``lipsync_report.py`` beside this file.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.lipsync_cpu import cpu_figures, gpu_figures  # noqa: E402
from bench.lipsync_report import cpu_section  # noqa: E402
from bench.lipsync_serve import serve_figures  # noqa: E402
from bench.report import markdown_table, write_section  # noqa: E402
from tests.shared import SHARED  # noqa: E402


def prepare(workdir: Path) -> dict:
    """The fp32 and int8 models, the astro pack and real model inputs (cached in workdir)."""
    from actors.engines.avatar.calibration import face_windows, speech_windows
    from actors.engines.avatar.prepare import AvatarPack, prepare_avatar
    from models.quantize import quantize_wav2lip
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
