"""Wav2Lip PyTorch checkpoint -> ONNX (``mel`` [B,1,80,16], ``face`` [B,6,96,96] -> ``output``).

The layer table (``models.wav2lip_layers``) transcribes the published network (Rudrabha/Wav2Lip,
``models/wav2lip.py`` and ``models/conv.py``); its walk order and prefixes give the
checkpoint's state-dict keys. The ONNX graph is written from the weights directly, with each
BatchNorm folded into its convolution, so the graph has fixed input names and a dynamic batch
whatever the installed torch's exporter does. torch (the ``[export]`` extra) is needed only to
read the checkpoint and to check the graph against ``make_torch_wav2lip`` (the
``nn.Module`` in ``models.torch_wav2lip``) run on the same weights; it is imported lazily.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from models.wav2lip_layers import AUDIO_ENCODER, FACE_DECODER, FACE_ENCODER, OUTPUT_LAYER

BN_EPS = 1e-5  # nn.BatchNorm2d's default, which Wav2Lip keeps
_BN_KEYS = ("weight", "bias", "running_mean", "running_var")
_INSTALL_HINT = 'pip install "avatar-chat[export]"'


class ExportError(RuntimeError):
    """The checkpoint could not be converted, or the ONNX graph disagrees with torch."""


def layers() -> Iterator[tuple[str, tuple]]:
    """``(state-dict prefix, layer)`` for every Conv+BN layer, in the checkpoint's order."""
    for i, block in enumerate(FACE_ENCODER):
        for j, layer in enumerate(block):
            yield f"face_encoder_blocks.{i}.{j}", layer
    for j, layer in enumerate(AUDIO_ENCODER):
        yield f"audio_encoder.{j}", layer
    for i, block in enumerate(FACE_DECODER):
        for j, layer in enumerate(block):
            yield f"face_decoder_blocks.{i}.{j}", layer
    yield "output_block.0", OUTPUT_LAYER


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """State-dict key -> shape of every tensor Wav2Lip's generator holds (BN counters aside)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for prefix, (kind, cin, cout, k, _stride, _pad) in layers():
        weight = (cin, cout, k, k) if kind == "up" else (cout, cin, k, k)
        shapes[f"{prefix}.conv_block.0.weight"] = weight
        shapes[f"{prefix}.conv_block.0.bias"] = (cout,)
        for key in _BN_KEYS:
            shapes[f"{prefix}.conv_block.1.{key}"] = (cout,)
    shapes["output_block.1.weight"] = (3, 32, 1, 1)
    shapes["output_block.1.bias"] = (3,)
    return shapes


def check_state_dict(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Strip DataParallel's ``module.`` prefix and check every key and shape; float32 arrays."""
    clean = {
        key.removeprefix("module."): np.asarray(value, dtype=np.float32)
        for key, value in state.items()
        if not key.endswith("num_batches_tracked")
    }
    shapes = expected_shapes()
    missing = sorted(set(shapes) - set(clean))
    unexpected = sorted(set(clean) - set(shapes))
    wrong = [f"{k} {clean[k].shape} != {shapes[k]}" for k in shapes if k in clean
             and clean[k].shape != shapes[k]]  # fmt: skip
    if missing or unexpected or wrong:
        raise ExportError(
            "not a Wav2Lip generator checkpoint (96x96, Rudrabha/Wav2Lip): "
            f"{len(missing)} missing keys {missing[:3]}, {len(unexpected)} unexpected keys "
            f"{unexpected[:3]}, {len(wrong)} wrong shapes {wrong[:3]}"
        )
    return clean


def _fold(state: Mapping[str, np.ndarray], prefix: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Conv weight and bias with the following BatchNorm (inference statistics) folded in."""
    w, b = state[f"{prefix}.conv_block.0.weight"], state[f"{prefix}.conv_block.0.bias"]
    gamma, beta, mean, var = (state[f"{prefix}.conv_block.1.{k}"] for k in _BN_KEYS)
    scale = gamma / np.sqrt(var + np.float32(BN_EPS))
    # Output channels are axis 0 of a Conv weight, axis 1 of a ConvTranspose weight.
    w = w * (scale[None, :, None, None] if kind == "up" else scale[:, None, None, None])
    return w.astype(np.float32), ((b - mean) * scale + beta).astype(np.float32)


def state_dict_to_onnx(state: Mapping[str, np.ndarray], path: str | Path, *, opset: int = 17):
    """Write Wav2Lip's ONNX graph with the weights in ``state`` (checked first) to ``path``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    state = check_state_dict(state)
    nodes, inits = [], []

    def node(op: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        out = out or f"{op.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(array, name))
        return name

    def layer(x: str, prefix: str, spec: tuple) -> str:
        kind, _cin, _cout, k, stride, pad = spec
        sh, sw = (stride, stride) if isinstance(stride, int) else stride
        w, b = _fold(state, prefix, kind)
        args = [x, const(f"{prefix}.weight", w), const(f"{prefix}.bias", b)]
        attrs = {"kernel_shape": [k, k], "strides": [sh, sw], "pads": [pad] * 4}
        if kind == "up":
            y = node("ConvTranspose", args, output_padding=[sh - 1, sw - 1], **attrs)
        else:
            y = node("Conv", args, **attrs)
        return node("Relu", [node("Add", [y, x]) if kind == "res" else y])

    walk = layers()
    skips, x = [], "face"
    for block in FACE_ENCODER:
        for _ in block:
            x = layer(x, *next(walk))
        skips.append(x)
    x = "mel"
    for _ in AUDIO_ENCODER:
        x = layer(x, *next(walk))
    for block in FACE_DECODER:
        for _ in block:
            x = layer(x, *next(walk))
        x = node("Concat", [x, skips.pop()], axis=1)
    x = layer(x, *next(walk))
    w = const("output_block.1.weight", state["output_block.1.weight"])
    b = const("output_block.1.bias", state["output_block.1.bias"])
    node("Sigmoid", [node("Conv", [x, w, b], kernel_shape=[1, 1])], out="output")

    def tensor(name: str, *dims: int):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *dims])

    graph = helper.make_graph(
        nodes, "wav2lip", [tensor("mel", 1, 80, 16), tensor("face", 6, 96, 96)],
        [tensor("output", 3, 96, 96)], initializer=inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.doc_string = "Wav2Lip (Rudrabha/Wav2Lip), non-commercial research use only."
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise ExportError(
            f"converting a PyTorch checkpoint needs torch: {_INSTALL_HINT}, "
            "or fetch a ready ONNX file instead (--url/--from-file ending in .onnx)"
        ) from exc
    return torch


def load_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """The generator weights of a Wav2Lip ``.pth``, checked, as float32 NumPy arrays."""
    torch = _torch()
    try:  # weights_only: a downloaded pickle must not run code
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise ExportError(f"cannot read {path} as a PyTorch checkpoint: {exc}") from exc
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, Mapping) or not all(torch.is_tensor(v) for v in state.values()):
        raise ExportError(f"{path} holds no state dict of tensors")
    return check_state_dict({k: v.detach().float().cpu().numpy() for k, v in state.items()})


def make_torch_wav2lip():
    """A randomly initialised torch Wav2Lip whose ``state_dict`` keys match the checkpoints."""
    _torch()  # without torch: an ExportError that says how to install it
    # Imported here: torch_wav2lip imports torch, and the layer table from this module.
    from models.torch_wav2lip import Wav2Lip

    return Wav2Lip()


def verify_onnx(state: Mapping[str, np.ndarray], onnx_path: str | Path, *, atol: float = 1e-3):
    """Run torch Wav2Lip with ``state`` and the ONNX graph on the same batch; ``ExportError``
    if they differ by more than ``atol``. Returns the largest difference."""
    import onnxruntime as ort

    torch = _torch()
    model = make_torch_wav2lip().eval()
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        raise ExportError(f"torch Wav2Lip rejects the weights: {missing[:3]} {unexpected[:3]}")
    rng = np.random.default_rng(0)
    mel = rng.uniform(-4, 4, (2, 1, 80, 16)).astype(np.float32)
    face = rng.uniform(0, 1, (2, 6, 96, 96)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(mel), torch.from_numpy(face)).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["output"], {"mel": mel, "face": face})
    diff = float(np.abs(got - expected).max())
    if not diff <= atol:
        raise ExportError(f"ONNX export differs from torch by {diff:.2e} (> {atol:g})")
    return diff


def convert_checkpoint(checkpoint: str | Path, onnx_path: str | Path, *, verify: bool = True):
    """``.pth`` -> ONNX at ``onnx_path`` (returned), checked against torch when ``verify``."""
    state = load_checkpoint(checkpoint)
    state_dict_to_onnx(state, onnx_path)
    if verify:
        verify_onnx(state, onnx_path)
    return Path(onnx_path)
