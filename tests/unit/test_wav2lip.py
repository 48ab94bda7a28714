"""Wav2LipRunner on a random-weight Wav2Lip-shaped ONNX graph (real shapes and compute)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from actors.engines.avatar.wav2lip_runner import Wav2LipRunner, output_to_rgb, prepare_face_input
from models.wav2lip_graph import count_flops

pytestmark = pytest.mark.unit


@pytest.fixture(scope="session")
def model_path(random_wav2lip):
    return random_wav2lip


@pytest.fixture(scope="module")
def runner(model_path):
    return Wav2LipRunner(
        model_path=model_path, providers=["CPUExecutionProvider"], intra_op_threads=2
    )


def random_batch(batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mel = rng.uniform(-4, 1, (batch, 1, 80, 16)).astype(np.float32)
    faces = rng.uniform(0, 1, (batch, 6, 96, 96)).astype(np.float32)
    faces[:, :3, 48:] = 0.0
    return mel, faces


def test_model_loads_on_cpu_and_outputs_crops_in_unit_range(runner):
    assert runner.providers == ["CPUExecutionProvider"]
    out = runner.infer(*random_batch(2))
    assert out.shape == (2, 3, 96, 96) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
    assert out.std() > 0.01  # not saturated: the random weights keep activations sane


def test_default_providers_include_cpu(model_path):
    assert "CPUExecutionProvider" in Wav2LipRunner(model_path=model_path).providers


def test_batched_output_equals_per_frame_output(runner):
    mel, faces = random_batch(4, seed=1)
    batched = runner.infer(mel, faces)
    singles = np.concatenate([runner.infer(mel[i : i + 1], faces[i : i + 1]) for i in range(4)])
    np.testing.assert_allclose(batched, singles, atol=1e-4)
    assert np.abs(batched[0] - batched[1]).max() > 1e-3  # frames really differ


def test_parallel_runs_split_a_batch_across_threads_in_order(model_path, runner):
    parallel = Wav2LipRunner(
        model_path=model_path,
        providers=["CPUExecutionProvider"],
        intra_op_threads=1,
        parallel_runs=3,
        min_slice=2,
    )
    calls = []
    run = parallel._run
    # The three slices must all be in flight at once to pass this barrier: they run
    # concurrently, on three threads, whatever the machine's speed.
    together = threading.Barrier(3, timeout=30)

    def recorded(mel, faces, session=None):
        calls.append((len(mel), threading.current_thread().name))
        together.wait()
        return run(mel, faces, session)

    parallel._run = recorded
    mel, faces = random_batch(7, seed=4)
    np.testing.assert_allclose(parallel.infer(mel, faces), runner.infer(mel, faces), atol=1e-4)
    assert sorted(n for n, _ in calls) == [2, 2, 3]  # slices of the 7 frames, none lost
    assert len({name for _, name in calls}) == 3  # each on its own thread
    calls.clear()
    parallel._run = lambda mel, faces, session=None: calls.append(len(mel)) or run(mel, faces)
    parallel.infer(mel[:3], faces[:3])  # too small to slice: one call
    assert calls == [3]


def test_output_depends_on_audio_and_face(runner):
    mel, faces = random_batch(1, seed=2)
    base = runner.infer(mel, faces)
    assert np.abs(runner.infer(mel * 0.5, faces) - base).max() > 1e-3
    assert np.abs(runner.infer(mel, faces[:, ::-1].copy()) - base).max() > 1e-3


def test_empty_batch_and_bad_shapes(runner):
    mel, faces = random_batch(2)
    assert runner.infer(mel[:0], faces[:0]).shape == (0, 3, 96, 96)
    with pytest.raises(ValueError, match="batch sizes differ"):
        runner.infer(mel, faces[:1])
    with pytest.raises(ValueError, match="mel must be"):
        runner.infer(mel[:, :, :40], faces)
    with pytest.raises(ValueError, match="faces must be"):
        runner.infer(mel, faces[:, :3])


def test_missing_model_file_names_path_and_how_to_fetch(tmp_path):
    missing = tmp_path / "nowhere" / "wav2lip.onnx"
    with pytest.raises(FileNotFoundError, match="fetch") as info:
        Wav2LipRunner(model_path=missing)
    assert str(missing) in str(info.value)


def test_model_with_other_inputs_is_rejected(tmp_path):
    from onnx import TensorProto, helper, save

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 32, 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 32, 32])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "other", [x], [y])
    path = tmp_path / "other.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ValueError, match="not a Wav2Lip model"):
        Wav2LipRunner(model_path=path)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="cannot load"):
        Wav2LipRunner(model_path=garbage)


def test_options_are_validated(model_path):
    with pytest.raises(ValueError, match="intra_op_threads"):
        Wav2LipRunner(model_path=model_path, intra_op_threads=0)
    with pytest.raises(ValueError, match="parallel_runs"):
        Wav2LipRunner(model_path=model_path, parallel_runs=0)
    with pytest.raises(ValueError, match="min_slice"):
        Wav2LipRunner(model_path=model_path, min_slice=0)
    with pytest.raises(ValueError, match="providers"):
        Wav2LipRunner(model_path=model_path, providers=["NoSuchExecutionProvider"])


def test_flops_per_frame_match_published_wav2lip(model_path):
    assert 6e9 <= count_flops(model_path) <= 10e9


def test_prepare_face_input_masks_lower_half_and_converts_to_bgr():
    rng = np.random.default_rng(3)
    crop = rng.integers(1, 256, (96, 96, 3), dtype=np.uint8)
    ref = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    face = prepare_face_input(crop, ref)
    assert face.shape == (6, 96, 96) and face.dtype == np.float32
    assert face.min() >= 0.0 and face.max() <= 1.0
    assert np.all(face[:3, 48:] == 0.0) and np.all(face[:3, :48] > 0.0)
    np.testing.assert_allclose(face[0, :48], crop[:48, :, 2] / 255.0, atol=1e-7)  # blue first
    np.testing.assert_allclose(face[5], ref[:, :, 0] / 255.0, atol=1e-7)  # red last
    batch = prepare_face_input(np.stack([crop, ref]), np.stack([ref, crop]))
    assert batch.shape == (2, 6, 96, 96)
    np.testing.assert_array_equal(batch[0], face)


def test_output_to_rgb_inverts_the_input_conversion():
    ref = np.random.default_rng(4).integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)
    as_output = prepare_face_input(ref, ref)[:, 3:]  # BGR float, like the model's output
    np.testing.assert_array_equal(output_to_rgb(as_output), ref)
    assert output_to_rgb(as_output[0]).shape == (96, 96, 3)
    with pytest.raises(ValueError, match="96"):
        prepare_face_input(ref[0, :64], ref[0, :64])
    with pytest.raises(ValueError, match="output must be"):
        output_to_rgb(np.zeros((3, 64, 64), dtype=np.float32))
