"""Split a Wav2Lip ONNX graph into its face encoder and the rest, exactly.

Wav2Lip's face encoder sees only the face input (the crop with its lower half masked, and the
reference), never the audio. An avatar's frames repeat (a still portrait is one frame, a
video pack loops), so the encoder's outputs for a frame are the same every time it is shown:
computed once, they can be kept and fed back. ``split_face_encoder`` finds that part of any
graph with the two inputs, fp32 or quantised, without knowing its layer names:

* the *face side* is every node whose inputs depend on the face input and not on the mel;
* the *boundary* is what the face side hands to nodes that depend on the mel (the encoder's
  skip features). In a QDQ graph the quantised tensor is taken, before its DequantizeLinear,
  so ONNX Runtime fuses the rest as it fused the whole graph and the output is the same.

The result is ``(encoder, decoder, boundary)``: ``encoder`` maps ``face -> boundary``,
``decoder`` maps ``mel + boundary -> output``. A graph the rule does not fit (the face input
used by the mel side directly, a boundary tensor without the batch axis first) gives
``FaceSplitError``; the caller then runs the whole graph.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FaceSplit", "FaceSplitError", "split_face_encoder"]


class FaceSplitError(ValueError):
    """The graph cannot be split into a face encoder and the rest."""


@dataclass(frozen=True)
class FaceSplit:
    """Serialised ONNX models of the two parts, and the boundary tensors' names in order."""

    encoder: bytes
    decoder: bytes
    boundary: tuple[str, ...]


def _reach(graph, source: str) -> set[str]:
    """Tensors computed (transitively) from ``source``; nodes are in topological order."""
    reached = {source}
    for node in graph.node:
        if any(name in reached for name in node.input):
            reached.update(node.output)
    return reached


def _batch_leading(graph, name: str, batch_dim) -> bool:
    infos = {i.name: i for i in [*graph.value_info, *graph.output]}
    info = infos.get(name)
    if info is None or not info.type.tensor_type.HasField("shape"):
        return False
    dims = info.type.tensor_type.shape.dim
    return len(dims) >= 2 and dims[0] == batch_dim


def split_face_encoder(model_path, *, face: str, mel: str, output: str) -> FaceSplit:
    """Split the model at ``model_path`` (see the module docstring); names are its tensors'."""
    import onnx
    from onnx import utils

    model = onnx.shape_inference.infer_shapes(onnx.load(str(model_path)))
    graph = model.graph
    from_mel, from_face = _reach(graph, mel), _reach(graph, face)
    producer = {out: node for node in graph.node for out in node.output}
    boundary: list[str] = []
    for node in graph.node:
        if not any(out in from_mel for out in node.output):
            continue
        for name in node.input:
            if name not in from_face or name in from_mel:
                continue
            if name == face:
                raise FaceSplitError("the face input feeds the audio side directly")
            source = producer[name]
            if source.op_type == "DequantizeLinear" and source.input[0] in from_face:
                name = source.input[0]  # keep the quantised tensor; dequantise after
            if name not in boundary:
                boundary.append(name)
    if not boundary:
        raise FaceSplitError("no tensor passes from the face side to the audio side")
    batch_dim = next(i for i in graph.input if i.name == face).type.tensor_type.shape.dim[0]
    odd = [name for name in boundary if not _batch_leading(graph, name, batch_dim)]
    if odd:
        raise FaceSplitError(f"boundary tensors without the batch axis first: {odd}")
    extractor = utils.Extractor(model)
    encoder = extractor.extract_model([face], boundary)
    decoder = extractor.extract_model([mel, *boundary], [output])
    return FaceSplit(encoder.SerializeToString(), decoder.SerializeToString(), tuple(boundary))
