"""Checking a staged model file before it is installed: does its runtime load it, and, for
Wav2Lip, does it have Wav2Lip's inputs and run one frame?

A sha256 match already proves a registry download; this catches what a checksum cannot: a
``--no-verify`` or ``--sha256`` install, and a checkpoint converted here.
"""

from __future__ import annotations

from pathlib import Path

from models.download import FetchError
from models.registry import ModelSpec
from models.wav2lip_layers import FACE_SHAPE, MEL_SHAPE


def validate_model(spec: ModelSpec, path: Path, source: str) -> None:
    """``FetchError`` naming ``source`` unless ``path`` is a usable ``spec`` model."""
    try:
        if spec.kind == "tflite":
            _load_tflite(path)
        else:
            _load_onnx(spec, path)
    except ImportError as exc:  # the runtime itself is missing: the file may be fine
        raise FetchError(f"cannot load {source} to check it: {exc}") from exc
    except Exception as exc:  # each runtime raises its own types for a bad file
        raise FetchError(f"{source} is not a usable {spec.name} model: {exc}") from exc


def _load_tflite(path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # Built-in kernels: the default XNNPACK delegate prints a line at every load.
    resolver = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    Interpreter(model_path=str(path), experimental_op_resolver_type=resolver).allocate_tensors()


def _load_onnx(spec: ModelSpec, path: Path) -> None:
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    if spec.kind != "pytorch":
        return
    # Converted from a checkpoint, or a ready export of one: Wav2Lip's own shapes.
    by_shape = {tuple(i.shape[1:]): i.name for i in session.get_inputs()}
    if not {MEL_SHAPE, FACE_SHAPE} <= by_shape.keys():
        seen = [(i.name, i.shape) for i in session.get_inputs()]
        raise ValueError(
            f"not a Wav2Lip model: expected inputs [B,{','.join(map(str, MEL_SHAPE))}] "
            f"and [B,{','.join(map(str, FACE_SHAPE))}], got {seen}"
        )
    feed = {
        by_shape[MEL_SHAPE]: np.zeros((1, *MEL_SHAPE), np.float32),
        by_shape[FACE_SHAPE]: np.zeros((1, *FACE_SHAPE), np.float32),
    }
    (out,) = session.run(None, feed)[:1]
    if not np.isfinite(out).all():
        raise ValueError("it produces non-finite output")
