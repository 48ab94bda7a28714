"""A Wav2Lip-shaped ONNX graph with random weights, and a FLOP counter for ONNX graphs.

No Wav2Lip weights can be had offline, so tests and benchmarks run this stand-in: the
same inputs, outputs, layers and compute as the published network (Rudrabha/Wav2Lip,
``models/wav2lip.py``), with BatchNorm folded into each convolution (inference only).
Lip quality means nothing here; shapes, batching and speed are real.

Only tests and benchmarks need this module, so ``onnx`` is imported lazily.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# A layer is (kind, cin, cout, kernel, stride, padding); kinds: "conv" (Conv+BN+ReLU),
# "res" (same with the input added before the ReLU), "up" (ConvTranspose+BN+ReLU with
# output_padding 1 when the stride is 2).
_FACE_ENCODER = [
    [("conv", 6, 16, 7, 1, 3)],  # 96x96
    [("conv", 16, 32, 3, 2, 1)] + [("res", 32, 32, 3, 1, 1)] * 2,  # 48x48
    [("conv", 32, 64, 3, 2, 1)] + [("res", 64, 64, 3, 1, 1)] * 3,  # 24x24
    [("conv", 64, 128, 3, 2, 1)] + [("res", 128, 128, 3, 1, 1)] * 2,  # 12x12
    [("conv", 128, 256, 3, 2, 1)] + [("res", 256, 256, 3, 1, 1)] * 2,  # 6x6
    [("conv", 256, 512, 3, 2, 1), ("res", 512, 512, 3, 1, 1)],  # 3x3
    [("conv", 512, 512, 3, 1, 0), ("conv", 512, 512, 1, 1, 0)],  # 1x1
]
_AUDIO_ENCODER = (  # [1, 80, 16] -> [512, 1, 1]
    [("conv", 1, 32, 3, 1, 1)]
    + [("res", 32, 32, 3, 1, 1)] * 2
    + [("conv", 32, 64, 3, (3, 1), 1)]
    + [("res", 64, 64, 3, 1, 1)] * 2  # 27x16
    + [("conv", 64, 128, 3, 3, 1)]
    + [("res", 128, 128, 3, 1, 1)] * 2  # 9x6
    + [("conv", 128, 256, 3, (3, 2), 1), ("res", 256, 256, 3, 1, 1)]  # 3x3
    + [("conv", 256, 512, 3, 1, 0), ("conv", 512, 512, 1, 1, 0)]  # 1x1
)
_FACE_DECODER = [  # each block's output is concatenated with the matching encoder output
    [("conv", 512, 512, 1, 1, 0)],  # 1x1
    [("up", 1024, 512, 3, 1, 0), ("res", 512, 512, 3, 1, 1)],  # 3x3
    [("up", 1024, 512, 3, 2, 1)] + [("res", 512, 512, 3, 1, 1)] * 2,  # 6x6
    [("up", 768, 384, 3, 2, 1)] + [("res", 384, 384, 3, 1, 1)] * 2,  # 12x12
    [("up", 512, 256, 3, 2, 1)] + [("res", 256, 256, 3, 1, 1)] * 2,  # 24x24
    [("up", 320, 128, 3, 2, 1)] + [("res", 128, 128, 3, 1, 1)] * 2,  # 48x48
    [("up", 160, 64, 3, 2, 1)] + [("res", 64, 64, 3, 1, 1)] * 2,  # 96x96
]
# Residual branches are scaled down so that ~30 stacked "x + f(x)" stay finite.
_RESIDUAL_GAIN = 0.3


class _GraphBuilder:
    def __init__(self, seed: int):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.initializers: list = []
        self.count = 0

    def _name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def _const(self, prefix: str, array: np.ndarray) -> str:
        name = self._name(prefix)
        self.initializers.append(self.numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def _node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self._name(op.lower())
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def layer(self, x: str, kind: str, cin: int, cout: int, k: int, stride, pad: int) -> str:
        sh, sw = (stride, stride) if isinstance(stride, int) else stride
        fan_in = cin * k * k / (sh * sw if kind == "up" else 1)
        std = np.sqrt(2.0 / fan_in) * (_RESIDUAL_GAIN if kind == "res" else 1.0)
        shape = (cin, cout, k, k) if kind == "up" else (cout, cin, k, k)
        w = self._const("w", self.rng.standard_normal(shape, dtype=np.float32) * std)
        b = self._const("b", self.rng.standard_normal(cout, dtype=np.float32) * 0.01)
        attrs = {"kernel_shape": [k, k], "strides": [sh, sw], "pads": [pad] * 4}
        if kind == "up":
            y = self._node("ConvTranspose", [x, w, b], output_padding=[sh - 1, sw - 1], **attrs)
        else:
            y = self._node("Conv", [x, w, b], **attrs)
        if kind == "res":
            y = self._node("Add", [y, x])
        return self._node("Relu", [y])

    def sequence(self, x: str, layers) -> str:
        for spec in layers:
            x = self.layer(x, *spec)
        return x


def build_wav2lip_onnx(path: str | Path, *, seed: int = 0, opset: int = 17) -> Path:
    """Write a random-weight Wav2Lip graph to ``path`` and return it.

    Inputs ``mel`` [B,1,80,16] and ``face`` [B,6,96,96] float32; output ``output``
    [B,3,96,96] float32 in [0, 1]; ``B`` is dynamic. Same ``seed``, same weights.
    """
    import onnx
    from onnx import TensorProto, helper

    g = _GraphBuilder(seed)
    skips = []
    x = "face"
    for block in _FACE_ENCODER:
        x = g.sequence(x, block)
        skips.append(x)
    x = g.sequence("mel", _AUDIO_ENCODER)
    for block in _FACE_DECODER:
        x = g.sequence(x, block)
        x = g._node("Concat", [x, skips.pop()], axis=1)
    x = g.sequence(x, [("conv", 80, 32, 3, 1, 1)])
    w = g._const("w", g.rng.standard_normal((3, 32, 1, 1), dtype=np.float32) * np.sqrt(1 / 32))
    b = g._const("b", np.zeros(3, dtype=np.float32))
    logits = g._node("Conv", [x, w, b], kernel_shape=[1, 1])
    g.nodes.append(helper.make_node("Sigmoid", [logits], ["output"], name="output"))

    def tensor(name: str, *dims: int):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *dims])

    graph = helper.make_graph(
        g.nodes,
        "wav2lip_random",
        [tensor("mel", 1, 80, 16), tensor("face", 6, 96, 96)],
        [tensor("output", 3, 96, 96)],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.doc_string = f"Wav2Lip-shaped graph with RANDOM weights (seed {seed}); not a lip model."
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def count_flops(path: str | Path) -> int:
    """FLOPs for one batch item: 2 x multiply-accumulates of every Conv and ConvTranspose.

    Element-wise ops (Add, Relu, Sigmoid) are left out; they are well under 1 %.
    """
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    shapes = {t.name: list(t.dims) for t in graph.initializer}
    for info in [*graph.input, *graph.value_info, *graph.output]:
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = [d.dim_value if d.HasField("dim_value") else 1 for d in dims]
    macs = 0
    for node in graph.node:
        if node.op_type not in ("Conv", "ConvTranspose"):
            continue
        weight = shapes[node.input[1]]
        kernel = int(np.prod(weight[2:]))
        if node.op_type == "Conv":  # each output element sums cin/group * kernel products
            _, c, h, w = shapes[node.output[0]]
            macs += c * h * w * weight[1] * kernel
        else:  # each input element is scattered into cout/group * kernel outputs
            _, c, h, w = shapes[node.input[0]]
            macs += c * h * w * weight[1] * kernel
    return 2 * macs
