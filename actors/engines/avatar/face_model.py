"""The BlazeFace network: a model file -> a function of the letterboxed input tensor.

``open_blazeface(path)`` picks the runtime by the file's suffix:

- ``.tflite``: the file MediaPipe publishes, run as it is by LiteRT (the ``ai-edge-litert``
  wheel). This is what the registry installs.
- ``.onnx``: an ONNX export run by ONNX Runtime: the NHWC export of MediaPipe pull request
  3601 (``../shared/models``), or an NCHW one as tflite2onnx writes it.

Either way the function takes float32 NHWC ``[1, 128, 128, 3]`` in [-1, 1] and returns
``(regressors [1, 896, 16], classificators [1, 896, 1])`` as float32 arrays it owns. One
function serves one thread at a time (a LiteRT interpreter holds its tensors).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

INPUT_SHAPE = (1, 128, 128, 3)
OUTPUT_NAMES = ("regressors", "classificators")
OUTPUT_SHAPES = ((1, 896, 16), (1, 896, 1))

BlazeFaceModel = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def open_blazeface(path: str | Path) -> BlazeFaceModel:
    """Load ``path`` (``.tflite`` or ``.onnx``); ``ValueError`` if it is not BlazeFace short range.

    ``ImportError`` names the package to install when the runtime for that suffix is missing.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        return _litert_model(path)
    if suffix == ".onnx":
        return _onnx_model(path)
    raise ValueError(f"unknown face detector format {path.name!r}: expected .tflite or .onnx")


def _litert_model(path: Path) -> BlazeFaceModel:
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as exc:
        raise ImportError(
            f"running {path.name} needs LiteRT: pip install 'ai-edge-litert>=2.3' ({exc})"
        ) from exc
    try:
        # Built-in kernels, not the default XNNPACK delegate: on this 128 px network both take
        # ~1-2 ms a frame, and the delegate prints an INFO line on stderr at every load.
        interpreter = Interpreter(
            model_path=str(path),
            num_threads=1,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:  # LiteRT's errors for a file it cannot read
        raise ValueError(f"{path} is not a TFLite model LiteRT can run: {exc}") from exc
    (source,) = interpreter.get_input_details()
    sinks = {d["name"]: d for d in interpreter.get_output_details()}
    _check_signature(path, tuple(source["shape"]), {n: tuple(d["shape"]) for n, d in sinks.items()})
    indices = [sinks[name]["index"] for name in OUTPUT_NAMES]

    def run(tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        interpreter.set_tensor(source["index"], np.ascontiguousarray(tensor, np.float32))
        interpreter.invoke()
        regressors, logits = (interpreter.get_tensor(i) for i in indices)  # copies
        return regressors, logits

    return run


def _onnx_model(path: Path) -> BlazeFaceModel:
    import onnxruntime as ort  # imported here so pack loading never pulls it in

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # a 128x128 model: threads cost more than they gain
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    source = session.get_inputs()[0]
    # tflite2onnx moves the layout to NCHW; the pull-request export keeps TFLite's NHWC.
    channels_first = tuple(source.shape) == (1, 3, 128, 128)
    shape = INPUT_SHAPE if channels_first else tuple(source.shape)
    _check_signature(path, shape, {o.name: tuple(o.shape) for o in session.get_outputs()})

    def run(tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feed = tensor.transpose(0, 3, 1, 2) if channels_first else tensor
        feed = np.ascontiguousarray(feed, np.float32)
        regressors, logits = session.run(list(OUTPUT_NAMES), {source.name: feed})
        return regressors, logits

    return run


def _check_signature(path: Path, input_shape: tuple, outputs: dict[str, tuple]) -> None:
    expected = dict(zip(OUTPUT_NAMES, OUTPUT_SHAPES, strict=True))
    got = {name: outputs.get(name) for name in OUTPUT_NAMES}
    if tuple(input_shape) != INPUT_SHAPE or got != expected:
        raise ValueError(
            f"{path} is not MediaPipe's short-range BlazeFace: input {list(input_shape)} "
            f"(expected {list(INPUT_SHAPE)}), outputs {outputs} (expected {expected})"
        )
