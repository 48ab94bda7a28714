"""BlazeFace runtimes on the astronaut portrait: load and detection time, prepare time, results.

    python3 bench/face_detector.py [--repeats 50]

Three ways to run MediaPipe's short-range face detector, each in a fresh process (so the
runtime's import is paid as ``avatar-chat avatar prepare`` pays it):

- ``litert``: the published ``face_detection_short_range.tflite`` run as it is by LiteRT
  (``ai-edge-litert``), what the registry installs;
- ``tflite2onnx``: that file converted to ONNX with tflite2onnx (if installed), run by ONNX
  Runtime; the conversion is timed on its own (it would be paid once, at fetch time);
- ``onnx-pr3601``: the ONNX export of MediaPipe pull request 3601 in ``../shared/models``.

Prints, per way: model load, first and median detection, the whole ``prepare_avatar`` of the
portrait in a cold process, and the best box and score. Prints only; writes nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.shared import SHARED  # noqa: E402

PORTRAIT = SHARED / "data" / "portrait_astronaut.png"
TFLITE = SHARED / "models" / "face_detection_short_range.tflite"
VARIANTS = ("litert", "tflite2onnx", "onnx-pr3601")


def _model_file(variant: str, workdir: Path) -> tuple[Path, float | None]:
    """The file the variant runs, and the seconds its conversion took (None: no conversion)."""
    if variant == "litert":
        return TFLITE, None
    if variant == "onnx-pr3601":
        return SHARED / "models" / "face_detection_short_range.onnx", None
    import logging

    import tflite2onnx

    logging.disable(logging.WARNING)  # it warns once per float16 weight of this model
    target = workdir / "converted.onnx"
    t0 = time.perf_counter()
    tflite2onnx.convert(str(TFLITE), str(target))
    return target, time.perf_counter() - t0


def measure(variant: str, repeats: int) -> dict:
    """One variant's figures, measured in this (fresh) process."""
    import importlib

    import numpy as np

    t0 = time.perf_counter()  # the runtime's import, first thing in a fresh process
    importlib.import_module("ai_edge_litert.interpreter" if variant == "litert" else "onnxruntime")
    import_ms = (time.perf_counter() - t0) * 1e3
    from actors.engines.avatar.faces import BlazeFaceDetector
    from actors.engines.avatar.prepare import prepare_avatar

    with tempfile.TemporaryDirectory() as tmp:
        path, convert_s = _model_file(variant, Path(tmp))
        t0 = time.perf_counter()
        pack = prepare_avatar(
            PORTRAIT,
            name="bench",
            avatars_dir=Path(tmp) / "avatars",
            models_dir=Path(tmp),
            detector_factory=lambda _: BlazeFaceDetector(path),
        )
        prepare_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        detector = BlazeFaceDetector(path)
        load_ms = (time.perf_counter() - t0) * 1e3
        image = pack.frames[0]
        times = []
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            faces = detector.detect(image)
            times.append((time.perf_counter() - t0) * 1e3)
    best = faces[0]
    return {
        "variant": variant,
        "convert_s": convert_s,
        "load_ms": load_ms,
        "first_ms": times[0],
        "median_ms": float(np.median(times[1:])),
        "prepare_s": prepare_s,
        "import_ms": import_ms,
        "box": [round(v, 2) for v in (best.x, best.y, best.w, best.h)],
        "score": round(best.score, 4),
        "faces": len(faces),
    }


def run_child(variant: str, repeats: int) -> dict:
    args = [sys.executable, __file__, "--child", variant, "--repeats", str(repeats)]
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return {"variant": variant, "error": last}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.repeats)))
        return
    header = (
        "variant       import    convert  load     first    median   prepare  "
        "box (x, y, w, h)                score"
    )
    print(f"portrait: {PORTRAIT}\n{header}")
    for variant in VARIANTS:
        r = run_child(variant, args.repeats)
        if "error" in r:
            print(f"{variant:<13} unavailable: {r['error']}")
            continue
        convert = f"{r['convert_s']:.2f} s" if r["convert_s"] is not None else "-"
        print(
            f"{variant:<13} {r['import_ms']:5.0f} ms {convert:<8} {r['load_ms']:5.1f} ms "
            f"{r['first_ms']:5.1f} ms "
            f"{r['median_ms']:5.2f} ms {r['prepare_s']:5.2f} s  {r['box']}  {r['score']}"
        )


if __name__ == "__main__":
    main()
