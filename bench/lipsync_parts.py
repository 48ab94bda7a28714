"""Wav2Lip in parts against the whole graph: frames/s, multiply-adds and exactness.

    python3 bench/lipsync_parts.py [--no-write] [--rounds 3] [--batch 16]

In one process, no Ray, on the random-weight graph (``bench/lipsync.py``'s fp32 and int8
models, the astro pack, real speech windows). Each mode is a ``Wav2LipRunner`` laid out as
``serve_config.wav2lip.yaml`` lays it out (one-thread slices, one per core):

* ``whole``: the graph as it is (``face_cache_mb: 0``, ``mouth_windows: 0``);
* ``face cache``: the face encoder split off and its outputs kept per distinct frame (the
  portrait has one), so per frame the audio encoder and the decoder run;
* ``cache + window``: also the decoder cropped to the pack's mouth window
  (``pasteback.mouth_window``), the part of the output paste-back reads.

Figures: frames/s of one ``--batch``-frame call, best of ``--rounds`` interleaved rounds, and
the ratio against ``whole`` in the same run; GFLOP per frame of what runs per frame (2 x conv
multiply-adds: ``count_flops``); the largest difference from ``whole`` inside the window. Writes
the ``lipsync_parts`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import machine_line, markdown_table, write_section  # noqa: E402

MODES = ("whole", "face cache", "cache + window")


def runners(path: Path, slices: int) -> dict:
    from actors.engines.avatar.wav2lip_runner import Wav2LipRunner

    layout = {"model_path": path, "providers": ["CPUExecutionProvider"], "intra_op_threads": 1,
              "parallel_runs": slices}  # fmt: skip
    return {
        "whole": Wav2LipRunner(**layout),
        "face cache": Wav2LipRunner(**layout, face_cache_bytes=64 << 20),
        "cache + window": Wav2LipRunner(**layout, face_cache_bytes=64 << 20, mouth_windows=1),
    }


def per_frame_gflop(path: Path, window) -> dict[str, float]:
    """What runs per frame in each mode (the cached encoder runs once per distinct frame)."""
    import onnx

    from models.face_split import split_face_encoder
    from models.output_window import crop_to_window
    from models.wav2lip_graph import count_flops

    parts = split_face_encoder(path, face="face", mel="mel", output="output")
    with tempfile.TemporaryDirectory() as tmp:
        decoder, cropped = Path(tmp) / "decoder.onnx", Path(tmp) / "cropped.onnx"
        model = onnx.load_from_string(parts.decoder)
        onnx.save(model, str(decoder))
        onnx.save(crop_to_window(model, output="output", window=window), str(cropped))
        flops = [count_flops(p) for p in (path, decoder, cropped)]
    return {mode: f / 1e9 for mode, f in zip(MODES, flops, strict=True)}


def measure(modes: dict, mel, faces, window, rounds: int) -> dict[str, float]:
    best = dict.fromkeys(modes, 0.0)
    for _ in range(rounds):
        for mode, runner in modes.items():
            kwargs = {"window": window} if mode == "cache + window" else {}
            runner.infer(mel, faces, **kwargs)  # warm: the cache is filled, the window built
            t = time.perf_counter()
            runner.infer(mel, faces, **kwargs)
            best[mode] = max(best[mode], len(mel) / (time.perf_counter() - t))
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "lipsync-bench")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args(argv)
    from actors.engines.avatar.pasteback import mouth_window
    from actors.engines.avatar.prepare import AvatarPack
    from bench.lipsync import prepare

    d = prepare(args.workdir)
    window = mouth_window(AvatarPack.load(d["avatars"], "astro").mask)
    mel, faces = d["mel"][: args.batch], d["faces"][: args.batch]
    slices = max(1, min(2, len(os.sched_getaffinity(0))))
    load = os.getloadavg()
    rows = []
    for precision in ("int8", "fp32"):
        modes = runners(d[precision], slices)
        gflop = per_frame_gflop(d[precision], window)
        fps = measure(modes, mel, faces, window, args.rounds)
        whole = modes["whole"].infer(mel, faces)
        y0, y1, x0, x1 = window
        for mode, runner in modes.items():
            kwargs = {"window": window} if mode == "cache + window" else {}
            got = runner.infer(mel, faces, **kwargs)
            diff = np.abs(got - whole)[..., y0:y1, x0:x1].max()
            rows.append([precision, mode, f"{gflop[mode]:.2f}", f"{fps[mode]:.1f}",
                         f"{fps[mode] / fps['whole']:.2f}x",
                         "identical" if diff == 0 else f"{diff:.1g}"])  # fmt: skip
            print(" | ".join(rows[-1]), flush=True)
    table = markdown_table(
        ["precision", "mode", "GFLOP per frame", "frames/s", "ratio", "max diff in window"], rows
    )
    body = "\n".join([
        "## Wav2Lip in parts (`bench/lipsync_parts.py`)",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')}, {machine_line()}",
        f"Load average at the start: {' / '.join(f'{v:.2f}' for v in load)}. In one process, "
        f"no Ray: one {args.batch}-frame call of real speech windows on the astro portrait, "
        f"{slices} one-thread slice(s) at once (`serve_config.wav2lip.yaml`'s layout), best of "
        f"{args.rounds} interleaved rounds; ratios against `whole` in the same run. Mouth "
        f"window of the pack: rows {window[0]}-{window[1] - 1}, columns {window[2]}-"
        f"{window[3] - 1} of 96x96. GFLOP per frame: what runs for every frame (the cached "
        "face encoder runs once per distinct frame: once for a portrait).",
        "",
        table,
        "",
        "fp32 keeps its ConvTransposes (only the int8 path rewrites them, `models/subpixel.py`)"
        " and the cropper computes an op it does not know whole, so each up-layer's output is "
        "made in full there and fp32 saves less.",
    ])  # fmt: skip
    print(body)
    if not args.no_write:
        print(f"wrote {write_section('lipsync_parts', body)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
