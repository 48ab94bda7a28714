"""Rewrite ONNX ``ConvTranspose`` nodes as plain ``Conv``s with exactly the same output.

ONNX Runtime's CPU provider has no int8 kernel for a quantised ConvTranspose: it dequantises,
runs the float kernel and quantises again, and in the int8 Wav2Lip the six decoder up-layers
took about half of all inference time while holding a fifth of the FLOPs. Convolutions do run
in int8, so before quantising the up-layers are rewritten:

* stride 1: a Conv with the kernel flipped and in/out channels swapped, padded ``k - 1 - p``;
* stride 2, kernel 3, padding 1, output padding 1 (Wav2Lip's decoder): the "sub-pixel" form.
  Output pixel ``(2m + r, 2n + c)`` only sees kernel taps of parity ``(r, c)``, so each of the
  four phases is a small Conv over the input (1x1, 1x2, 2x1 and 2x2 taps: 9 in all, the same
  multiply-adds as the original), concatenated on channels and interleaved by DepthToSpace.

A Relu that is the layer's only consumer moves onto the phases (it commutes with the
interleave), so the quantiser fuses it into each Conv. Anything else is left as it was.
"""

from __future__ import annotations

import numpy as np

__all__ = ["rewrite_conv_transposes"]


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _stride1(w: np.ndarray, k: int, p: int):
    """(kernel, pads) of the Conv equal to a stride-1 ConvTranspose."""
    return np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)), [k - 1 - p] * 4


# Taps of kernel index per output parity for stride 2, kernel 3, padding 1: even outputs see
# tap 1 of input m; odd outputs see tap 2 of input m and tap 0 of input m + 1.
_TAPS = {0: [1], 1: [2, 0]}


def _phases(w: np.ndarray) -> list[tuple[np.ndarray, list[int]]]:
    """(kernel [Cout, Cin, kh, kw], pads) of the four phases, in DepthToSpace DCR order."""
    out = []
    for r in (0, 1):
        for c in (0, 1):
            k = w[:, :, _TAPS[r]][:, :, :, _TAPS[c]]  # [Cin, Cout, kh, kw]
            out.append((np.ascontiguousarray(k.transpose(1, 0, 2, 3)), [0, 0, r, c]))
    return out


def rewrite_conv_transposes(model):
    """Return ``(model, rewritten)``: a copy with eligible ConvTransposes replaced."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    nodes, dropped, count = [], set(), 0
    for node in graph.node:
        if id(node) in dropped:
            continue
        a = _attrs(node)
        w_init = inits.get(node.input[1]) if node.op_type == "ConvTranspose" else None
        ok_basic = (
            w_init is not None
            and a.get("group", 1) == 1
            and all(d == 1 for d in a.get("dilations", [1, 1]))
            and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
            and "output_shape" not in a
        )
        if not ok_basic:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(w_init)
        k, s = a.get("kernel_shape", list(w.shape[2:])), a.get("strides", [1, 1])
        p, op = a.get("pads", [0, 0, 0, 0]), a.get("output_padding", [0, 0])
        bias = node.input[2:3]
        use = consumers.get(node.output[0], [])
        relu = use[0] if len(use) == 1 and use[0].op_type == "Relu" else None
        if relu is not None and node.output[0] in outputs:
            relu = None
        final = relu.output[0] if relu is not None else node.output[0]
        base = node.name or f"convT{count}"
        if s == [1, 1] and op == [0, 0] and k[0] == k[1] and len(set(p)) == 1 and p[0] < k[0]:
            kernel, pads = _stride1(w, k[0], p[0])
            phases = [(kernel, pads)]
        elif s == [2, 2] and k == [3, 3] and p == [1, 1, 1, 1] and op == [1, 1]:
            phases = _phases(w)
        else:
            nodes.append(node)
            continue
        parts = []
        for i, (kernel, pads) in enumerate(phases):
            wname = f"{base}_phase{i}_w"
            graph.initializer.append(numpy_helper.from_array(kernel, wname))
            y = f"{base}_phase{i}" if len(phases) > 1 or relu is not None else final
            nodes.append(
                helper.make_node(
                    "Conv", [node.input[0], wname, *bias], [y], name=f"{base}_phase{i}",
                    kernel_shape=list(kernel.shape[2:]), pads=pads,
                )
            )  # fmt: skip
            if relu is not None:
                z = final if len(phases) == 1 else f"{y}_relu"
                nodes.append(helper.make_node("Relu", [y], [z], name=f"{y}_relu"))
                y = z
            parts.append(y)
        if len(phases) > 1:
            cat = f"{base}_phases"
            nodes.append(helper.make_node("Concat", parts, [cat], name=cat, axis=1))
            nodes.append(
                helper.make_node("DepthToSpace", [cat], [final], name=f"{base}_d2s",
                                 blocksize=2, mode="DCR")
            )  # fmt: skip
        if relu is not None:
            dropped.add(id(relu))
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    return model, count
