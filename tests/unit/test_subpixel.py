"""ConvTranspose -> Conv rewrite: ONNX Runtime gives the same output before and after."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from models.subpixel import rewrite_conv_transposes  # noqa: E402

pytestmark = pytest.mark.unit


def model_with(layers, cin=6, size=5):
    """x [1, cin, size, size] -> ConvTranspose layers (each optionally + Relu) -> y."""
    rng = np.random.default_rng(0)
    nodes, inits, x, c = [], [], "x", cin
    for i, (cout, k, s, p, op, relu, group) in enumerate(layers):
        w = rng.standard_normal((c, cout // group, k, k)).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        y = f"t{i}"
        nodes.append(
            helper.make_node("ConvTranspose", [x, f"w{i}", f"b{i}"], [y], name=f"ct{i}",
                             kernel_shape=[k, k], strides=[s, s], pads=[p] * 4,
                             output_padding=[op, op], group=group)
        )  # fmt: skip
        if relu:
            nodes.append(helper.make_node("Relu", [y], [f"r{i}"], name=f"relu{i}"))
            y = f"r{i}"
        x, c = y, cout
    nodes.append(helper.make_node("Identity", [x], ["y"]))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, None, None, None])],
        initializer=inits,
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize(
    "layers, rewritten",
    [
        ([(8, 3, 2, 1, 1, True, 1)], 1),  # Wav2Lip's decoder layer: sub-pixel, Relu moved in
        ([(8, 3, 2, 1, 1, False, 1), (4, 3, 2, 1, 1, True, 1)], 2),
        ([(8, 3, 1, 0, 0, True, 1)], 1),  # Wav2Lip's first up-layer: 1x1 -> 3x3, stride 1
        ([(8, 3, 1, 1, 0, False, 1)], 1),
        ([(8, 4, 2, 1, 0, False, 1)], 0),  # kernel 4: not handled, left as it was
        ([(6, 3, 2, 1, 1, False, 2)], 0),  # grouped: left as it was
    ],
)
def test_rewrite_keeps_the_output(layers, rewritten):
    model = model_with(layers)
    x = np.random.default_rng(1).standard_normal((1, 6, 5, 5)).astype(np.float32)
    new, count = rewrite_conv_transposes(model)
    onnx.checker.check_model(new)
    assert count == rewritten
    ops = Counter(n.op_type for n in new.graph.node)
    assert ops["ConvTranspose"] == len(layers) - rewritten
    expected, got = run(model, x), run(new, x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_sub_pixel_phases_do_the_same_multiply_adds():
    new, _ = rewrite_conv_transposes(model_with([(8, 3, 2, 1, 1, True, 1)]))
    taps = sum(
        int(np.prod(numpy_helper.to_array(t).shape[2:]))
        for t in new.graph.initializer
        if t.name.endswith("_w")
    )
    assert taps == 9  # 1x1 + 1x2 + 2x1 + 2x2: no multiply by an inserted zero
    relus = [n for n in new.graph.node if n.op_type == "Relu"]
    convs = {n.output[0] for n in new.graph.node if n.op_type == "Conv"}
    assert len(relus) == 4 and all(r.input[0] in convs for r in relus)  # fused by the quantiser
