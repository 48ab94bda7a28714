"""Crop a convolutional ONNX graph to the window of its output that is used, exactly.

Only the mouth of a Wav2Lip output is pasted back (``pasteback.feather_mask`` is zero over the
top quarter of the crop and along one side), yet the decoder's widest layers, at 48 and 96
pixels, compute every row and column. ``crop_to_window`` rewrites the graph so each tensor
holds only the rows and columns the window needs of it:

* backwards from the output, each node says which part of each input it reads (a Conv: its
  receptive field with its stride and pads; DepthToSpace: the window over the block size;
  element-wise ops, Concat on channels, Quantize/DequantizeLinear: the same window);
* forwards, each node reads just that part (a ``Slice``; before a DequantizeLinear, on the
  quantised tensor, so ONNX Runtime fuses int8 kernels as before), and a Conv's pads are
  those of the original that fall outside the image, so it computes the same numbers;
* the output is padded back with zeros to its full size: the interface does not change.

Any other op reads its inputs whole. Values inside the window equal the original graph's;
outside it they are 0.
"""

from __future__ import annotations

__all__ = ["Window", "crop_to_window"]

Window = tuple[int, int, int, int]  # y0, y1, x0, x1: rows y0..y1-1, columns x0..x1-1

_SAME_WINDOW = {"Relu", "Sigmoid", "Tanh", "Clip", "LeakyRelu", "Identity", "Add", "Sub", "Mul"}
_SAME_WINDOW |= {"QuantizeLinear", "DequantizeLinear", "Concat"}


def _hull(a: Window | None, b: Window) -> Window:
    if a is None:
        return b
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


class _Cropper:
    def __init__(self, model, output: str):
        import onnx
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.model = onnx.shape_inference.infer_shapes(model)
        graph = self.model.graph
        self.inits = {t.name: t for t in graph.initializer}
        self.sizes: dict[str, tuple[int, int]] = {}  # spatial (H, W) of 4-D tensors
        for info in [*graph.input, *graph.value_info, *graph.output]:
            dims = info.type.tensor_type.shape.dim
            if len(dims) == 4 and all(d.HasField("dim_value") for d in dims[2:]):
                self.sizes[info.name] = (dims[2].dim_value, dims[3].dim_value)
        self.output = output
        self.nodes, self.stored, self.memo, self.count = [], {}, {}, 0
        self.producer = {}

    def full(self, name: str) -> Window:
        h, w = self.sizes[name]
        return 0, h, 0, w

    def attrs(self, node) -> dict:
        return {a.name: self.helper.get_attribute_value(a) for a in node.attribute}

    def conv_geometry(self, node):
        """(kernel, strides, pads) of a plain 2-D Conv, or None if it is not one."""
        a = self.attrs(node)
        weight = self.inits.get(node.input[1])
        kernel = a.get("kernel_shape") or (list(weight.dims[2:]) if weight is not None else None)
        if kernel is None or len(kernel) != 2 or a.get("auto_pad", b"NOTSET") != b"NOTSET":
            return None
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            return None
        return kernel, a.get("strides", [1, 1]), a.get("pads", [0, 0, 0, 0])

    def reads(self, node, out: Window) -> dict[int, Window] | None:
        """Input index -> the window of it that ``out`` needs; None: the op is not known."""
        spatial = [i for i, n in enumerate(node.input) if n in self.sizes and n not in self.inits]
        if node.op_type == "Conv" and (geometry := self.conv_geometry(node)) and 0 in spatial:
            (kh, kw), (sh, sw), (pt, pl, _, _) = geometry
            h, w = self.sizes[node.input[0]]
            y0, y1 = max(0, out[0] * sh - pt), min(h, (out[1] - 1) * sh - pt + kh)
            x0, x1 = max(0, out[2] * sw - pl), min(w, (out[3] - 1) * sw - pl + kw)
            return {0: (y0, y1, x0, x1)}
        if node.op_type == "DepthToSpace" and spatial == [0]:
            b = self.attrs(node)["blocksize"]
            return {0: (out[0] // b, -(-out[1] // b), out[2] // b, -(-out[3] // b))}
        if node.op_type in _SAME_WINDOW and node.output[0] in self.sizes:
            if node.op_type == "Concat" and self.attrs(node).get("axis") not in (1, -3):
                return None
            size = self.sizes[node.output[0]]
            return {i: out for i in spatial if self.sizes[node.input[i]] == size}
        return None

    def needs(self, window: Window) -> tuple[dict[str, Window], set[str]]:
        """Backwards from ``window`` of the output: the window of every 4-D tensor it needs,
        and the names of all tensors it needs (shape tensors and the like whole)."""
        need: dict[str, Window] = {self.output: window}
        used = {self.output}
        for node in reversed(self.model.graph.node):
            wanted = [need[o] for o in node.output if o in need]
            if not any(o in used for o in node.output):
                continue
            reads = None
            if len(node.output) == 1 and wanted:
                reads = self.reads(node, wanted[0])
            if reads is None:  # unknown op: it reads its spatial inputs whole
                reads = {i: self.full(n) for i, n in enumerate(node.input) if n in self.sizes}
            for i, window_in in reads.items():
                need[node.input[i]] = _hull(need.get(node.input[i]), window_in)
            used.update(n for n in node.input if n)
        return need, used

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}__window{self.count}"

    def const(self, values) -> str:
        import numpy as np

        name = self.name("c")
        self.model.graph.initializer.append(
            self.numpy_helper.from_array(np.asarray(values, np.int64), name)
        )
        return name

    def emit(self, op: str, inputs: list[str], window: Window, **attrs) -> str:
        out = self.name(op.lower())
        node = self.helper.make_node(op, inputs, [out], name=out, **attrs)
        self.nodes.append(node)
        self.producer[out], self.stored[out] = node, window
        return out

    def sliced(self, name: str, window: Window) -> str:
        """``name`` holding just ``window`` (its stored window contains it)."""
        have = self.stored.get(name, self.full(name))
        if have == window:
            return name
        if (name, window) in self.memo:
            return self.memo[name, window]
        source = self.producer.get(name)
        if source is not None and source.op_type == "DequantizeLinear":
            inner = self.sliced(source.input[0], window)  # slice the int8 tensor, then widen
            out = self.emit("DequantizeLinear", [inner, *source.input[1:]], window)
            out_node = self.nodes[-1]
            out_node.attribute.extend(source.attribute)
        else:
            starts = self.const([window[0] - have[0], window[2] - have[2]])
            ends = self.const([window[1] - have[0], window[3] - have[2]])
            out = self.emit("Slice", [name, starts, ends, self.const([2, 3])], window)
        self.memo[name, window] = out
        return out

    def rebuild(self, window: Window):
        need, used = self.needs(window)
        graph = self.model.graph
        for node in graph.node:
            if not any(o in used for o in node.output):
                continue  # dead for this window
            out = need.get(node.output[0]) if len(node.output) == 1 else None
            reads = self.reads(node, out) if out is not None else None
            copy = type(node)()
            copy.CopyFrom(node)
            if reads is None:
                for i, n in enumerate(node.input):
                    if n in self.sizes and n not in self.inits:
                        copy.input[i] = self.sliced(n, self.full(n))
                produced = {o: self.full(o) for o in node.output if o in self.sizes}
            else:
                for i, w in reads.items():
                    copy.input[i] = self.sliced(node.input[i], w)
                if node.op_type == "DepthToSpace":
                    b, w = self.attrs(node)["blocksize"], reads[0]
                    out = (w[0] * b, w[1] * b, w[2] * b, w[3] * b)
                if node.op_type == "Conv":
                    self.repad(copy, node, out, reads[0])
                produced = {node.output[0]: out}
            self.nodes.append(copy)
            for o in copy.output:
                self.producer[o] = copy
            self.stored.update(produced)
        final = self.stored.get(self.output, self.full(self.output))
        if final != self.full(self.output):
            h, w = self.sizes[self.output]
            inner = self.name("output")
            for node in self.nodes:
                node.output[:] = [inner if o == self.output else o for o in node.output]
            pads = self.const([0, 0, final[0], final[2], 0, 0, h - final[1], w - final[3]])
            self.nodes.append(
                self.helper.make_node("Pad", [inner, pads], [self.output], name=self.name("pad"))
            )
        del graph.node[:]
        graph.node.extend(self.nodes)
        del graph.value_info[:]  # shapes inside changed; ONNX Runtime infers them again
        return self.model

    def repad(self, copy, node, out: Window, read: Window) -> None:
        """Pads of the cropped Conv: those of the original that fall outside the input."""
        (kh, kw), (sh, sw), (pt, pl, _, _) = self.conv_geometry(node)
        h, w = self.sizes[node.input[0]]
        top, left = out[0] * sh - pt, out[2] * sw - pl
        bottom, right = (out[1] - 1) * sh - pt + kh, (out[3] - 1) * sw - pl + kw
        pads = [max(0, -top), max(0, -left), max(0, bottom - h), max(0, right - w)]
        assert (read[0], read[2]) == (max(0, top), max(0, left))
        for attr in copy.attribute:
            if attr.name == "pads":
                del attr.ints[:]
                attr.ints.extend(pads)
                return
        copy.attribute.append(self.helper.make_attribute("pads", pads))


def crop_to_window(model, *, output: str, window: Window):
    """A copy of ``model`` (a ModelProto) computing only ``window`` of ``output`` [B,C,H,W]."""
    cropper = _Cropper(model, output)
    h, w = cropper.sizes[output]
    y0, y1, x0, x1 = window
    if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
        raise ValueError(f"window {window} is empty or outside the {h}x{w} output")
    return cropper.rebuild((y0, y1, x0, x1))
