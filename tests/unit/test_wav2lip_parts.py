"""The Wav2Lip graph in parts: its face encoder split off and cached, its output cropped to
the mouth window. Real ONNX Runtime on the random-weight graph (fp32, up-layers rewritten as
the int8 path has them) and on small hand-made graphs; int8 is in test_quantize."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from actors.engines.avatar.face_cache import FaceFeatureCache, face_key
from actors.engines.avatar.wav2lip_runner import Wav2LipRunner
from models.face_split import FaceSplitError, split_face_encoder
from models.output_window import crop_to_window
from models.subpixel import rewrite_conv_transposes

pytestmark = pytest.mark.unit

CPU = ["CPUExecutionProvider"]


@pytest.fixture(scope="module")
def subpixel_model(random_wav2lip, tmp_path_factory):
    """The random graph with its ConvTransposes as Conv + DepthToSpace (as int8 has them)."""
    model, rewritten = rewrite_conv_transposes(onnx.load(str(random_wav2lip)))
    assert rewritten
    path = tmp_path_factory.mktemp("subpixel") / "wav2lip.onnx"
    onnx.save(model, str(path))
    return path


def inputs(batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mel = rng.uniform(-4, 1, (batch, 1, 80, 16)).astype(np.float32)
    return mel, rng.random((batch, 6, 96, 96), dtype=np.float32)


def session(model) -> ort.InferenceSession:
    data = model if isinstance(model, bytes) else model.SerializeToString()
    return ort.InferenceSession(data, providers=CPU)


def test_the_split_parts_compute_what_the_whole_graph_does(subpixel_model):
    parts = split_face_encoder(subpixel_model, face="face", mel="mel", output="output")
    assert len(parts.boundary) == 7  # the encoder's seven skip features
    mel, faces = inputs(3)
    (whole,) = session(onnx.load(str(subpixel_model))).run(None, {"mel": mel, "face": faces})
    features = session(parts.encoder).run(list(parts.boundary), {"face": faces})
    assert [f.shape[0] for f in features] == [3] * 7
    feeds = {"mel": mel, **dict(zip(parts.boundary, features, strict=True))}
    (split,) = session(parts.decoder).run(None, feeds)
    np.testing.assert_allclose(split, whole, atol=1e-5)
    decoder_inputs = {i.name for i in onnx.load_from_string(parts.decoder).graph.input}
    assert "face" not in decoder_inputs  # the decoder never sees the face itself


def tiny_graph(tmp_path, nodes, outputs=("output",)):
    def value(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 1, 4, 4])

    graph = helper.make_graph(nodes, "tiny", [value("mel"), value("face")], [value(outputs[0])])
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_graphs_the_rule_does_not_fit_are_refused(tmp_path):
    direct = tiny_graph(tmp_path, [helper.make_node("Add", ["face", "mel"], ["output"])])
    with pytest.raises(FaceSplitError, match="directly"):
        split_face_encoder(direct, face="face", mel="mel", output="output")
    unused = tiny_graph(tmp_path, [helper.make_node("Relu", ["mel"], ["output"])])
    with pytest.raises(FaceSplitError, match="no tensor"):
        split_face_encoder(unused, face="face", mel="mel", output="output")
    ok = tiny_graph(
        tmp_path,
        [
            helper.make_node("Relu", ["face"], ["r"]),
            helper.make_node("Add", ["r", "mel"], ["output"]),
        ],
    )
    assert split_face_encoder(ok, face="face", mel="mel", output="output").boundary == ("r",)


def test_the_cache_keeps_the_most_recent_entries_within_its_bytes():
    entry = (np.zeros(100, np.uint8), np.zeros(50, np.float32))  # 300 bytes
    cache = FaceFeatureCache(max_bytes=700)
    keys = [face_key(np.full((2, 2), i, np.float32)) for i in range(3)]
    assert len(set(keys)) == 3 and face_key(np.full((2, 2), 0, np.float32)) == keys[0]
    cache.put(keys[0], entry)
    cache.put(keys[1], entry)
    assert cache.get(keys[0]) is entry  # key 0 is now the most recent
    cache.put(keys[2], entry)  # 900 bytes would not fit: key 1 goes
    assert cache.get(keys[1]) is None and cache.get(keys[2]) is entry
    assert (len(cache), cache.nbytes) == (2, 600)
    cache.put(keys[1], (np.zeros(800, np.uint8),))  # larger than the cache: not kept
    assert cache.get(keys[1]) is None and len(cache) == 2
    assert cache.stats() == {"hits": 2, "misses": 2, "entries": 2, "bytes": 600, "max_bytes": 700}
    with pytest.raises(ValueError, match="max_bytes"):
        FaceFeatureCache(max_bytes=-1)


WINDOWS = [(21, 96, 0, 88), (40, 57, 31, 70), (0, 1, 95, 96)]


@pytest.mark.parametrize("window", WINDOWS)
def test_a_cropped_graph_computes_its_window_and_zeros_elsewhere(subpixel_model, window):
    model = onnx.load(str(subpixel_model))
    cropped = crop_to_window(model, output="output", window=window)
    onnx.checker.check_model(cropped)
    mel, faces = inputs(2, seed=1)
    feeds = {"mel": mel, "face": faces}
    (whole,) = session(model).run(None, feeds)
    (part,) = session(cropped).run(None, feeds)
    assert part.shape == whole.shape
    y0, y1, x0, x1 = window
    np.testing.assert_allclose(part[..., y0:y1, x0:x1], whole[..., y0:y1, x0:x1], atol=1e-5)
    outside = np.ones(part.shape, bool)
    outside[..., y0:y1, x0:x1] = False
    assert not part[outside].any()


def test_cropping_strided_and_unknown_layers(tmp_path):
    """Stride 2, a 7x7 kernel, DepthToSpace and an op the cropper does not know (MaxPool)."""
    rng = np.random.default_rng(0)

    def weight(name, shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], kernel_shape=[7, 7], pads=[3, 3, 3, 3]),
        helper.make_node(
            "Conv", ["a", "w2"], ["b"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]
        ),  # fmt: skip
        helper.make_node("MaxPool", ["b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["c", "w3"], ["d"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("DepthToSpace", ["d"], ["e"], blocksize=2),
        helper.make_node("Add", ["e", "x"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "strided",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 16, 16])],
        initializer=[
            weight("w1", (4, 2, 7, 7)),
            weight("w2", (4, 4, 3, 3)),
            weight("w3", (8, 4, 3, 3)),
        ],  # fmt: skip
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = rng.standard_normal((1, 2, 16, 16)).astype(np.float32)
    (whole,) = session(model).run(None, {"x": x})
    for window in [(5, 11, 3, 9), (0, 16, 15, 16), (1, 2, 0, 16)]:
        (part,) = session(crop_to_window(model, output="y", window=window)).run(None, {"x": x})
        y0, y1, x0, x1 = window
        np.testing.assert_allclose(part[..., y0:y1, x0:x1], whole[..., y0:y1, x0:x1], atol=1e-4)
    with pytest.raises(ValueError, match="outside"):
        crop_to_window(model, output="y", window=(0, 17, 0, 16))


def test_a_runner_with_the_face_cache_and_windows_gives_the_same_mouths(subpixel_model):
    whole = Wav2LipRunner(model_path=subpixel_model, providers=CPU)
    parts = Wav2LipRunner(
        model_path=subpixel_model, providers=CPU, parallel_runs=2, face_cache_bytes=64 << 20,
        mouth_windows=1,
    )  # fmt: skip
    assert parts.face_split_note.startswith("face encoder cached: 7 tensors")
    mel, faces = inputs(6, seed=2)
    faces[3:] = faces[:3]  # three distinct faces, each twice
    expected = whole.infer(mel, faces)
    np.testing.assert_allclose(parts.infer(mel, faces), expected, atol=1e-5)
    stats = parts.face_cache.stats()
    assert stats["entries"] == 3 and stats["hits"] + stats["misses"] == 6
    before = stats["hits"]
    window = (21, 95, 1, 88)
    got = parts.infer(mel, faces, window=window)
    assert parts.face_cache.stats()["hits"] == before + 6  # every frame from the cache
    assert parts.mouth_windows.windows == [(20, 96, 0, 88)]  # widened to even bounds
    np.testing.assert_allclose(got[..., 21:95, 1:88], expected[..., 21:95, 1:88], atol=1e-5)
    assert not got[..., :20, :].any()
    # A second window finds no room (mouth_windows=1): it runs on the whole graph.
    np.testing.assert_allclose(parts.infer(mel, faces, window=(0, 50, 0, 50)), expected, atol=1e-5)
    assert len(parts.mouth_windows.windows) == 1
    with pytest.raises(ValueError, match="outside"):
        parts.infer(mel, faces, window=(0, 97, 0, 96))
    with pytest.raises(ValueError, match="face_cache_bytes"):
        Wav2LipRunner(model_path=subpixel_model, face_cache_bytes=-1)
    with pytest.raises(ValueError, match="mouth_windows"):
        Wav2LipRunner(model_path=subpixel_model, mouth_windows=-1)


def test_a_graph_that_cannot_be_split_runs_whole(tmp_path):
    """A graph whose face input reaches the audio side directly: no cache, a clear note."""
    nodes = [
        helper.make_node("ReduceMean", ["mel"], ["t"], axes=[2, 3], keepdims=1),
        helper.make_node("Expand", ["t", "shape"], ["e"]),
        helper.make_node("Add", ["e", "face"], ["s"]),
        helper.make_node("Slice", ["s", "s0", "s3", "s1"], ["output"]),
    ]
    consts = [
        numpy_helper.from_array(np.array([1, 6, 96, 96], np.int64), "shape"),
        numpy_helper.from_array(np.array([0], np.int64), "s0"),
        numpy_helper.from_array(np.array([3], np.int64), "s3"),
        numpy_helper.from_array(np.array([1], np.int64), "s1"),
    ]

    def value(name, *dims):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *dims])

    graph = helper.make_graph(
        nodes, "odd", [value("mel", 1, 80, 16), value("face", 6, 96, 96)],
        [value("output", 3, 96, 96)], initializer=consts,
    )  # fmt: skip
    path = tmp_path / "odd.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    runner = Wav2LipRunner(model_path=path, providers=CPU, face_cache_bytes=1 << 20)
    assert runner.face_cache is None and "feeds the audio side directly" in runner.face_split_note
    mel, faces = inputs(1)
    assert runner.infer(mel, faces).shape == (1, 3, 96, 96)


def test_the_parts_bench_counts_what_runs_per_frame(subpixel_model):
    from bench.lipsync_parts import per_frame_gflop
    from models.wav2lip_graph import count_flops

    gflop = per_frame_gflop(subpixel_model, (21, 96, 0, 88))
    assert gflop["whole"] == pytest.approx(count_flops(subpixel_model) / 1e9)
    # The encoder (~0.6 GFLOP) runs once per distinct frame; the window saves more again.
    assert gflop["whole"] - gflop["face cache"] == pytest.approx(0.62, abs=0.05)
    assert gflop["cache + window"] < gflop["face cache"] - 0.5
