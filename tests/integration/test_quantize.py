"""int8 quantisation of the (random-weight) Wav2Lip graph through the CLI, on real inputs.

Random weights make the fp32/int8 PSNR only indicative of a real model's; what is
asserted is that the int8 graph really is QDQ with int8 weights, runs, and stays close.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest

from actors.cli.main import main
from actors.engines.avatar.calibration import face_windows, portrait_crops, speech_windows
from actors.engines.avatar.pasteback import feather_mask, mouth_window
from actors.engines.avatar.wav2lip_runner import Wav2LipRunner
from models.quantize import psnr
from tests.conftest import SHARED

pytestmark = pytest.mark.integration

PORTRAIT = SHARED / "data" / "portrait_astronaut.png"
DETECTOR = "face_detection_short_range.tflite"


def test_psnr():
    a = np.zeros((2, 3, 4, 4), np.float32)
    assert psnr(a, a) == float("inf")
    assert psnr(a, a + 0.1) == pytest.approx(20.0)
    assert psnr(a, a + 25.5, peak=255.0) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(a, a[0])


def test_calibration_inputs_are_real_speech_and_a_masked_face(shared_models):
    mel = speech_windows(24)
    assert mel.shape == (24, 1, 80, 16) and mel.dtype == np.float32
    assert mel.max() > 0.0  # speech, not the -4 floor of silence
    crops = portrait_crops(PORTRAIT, models_dir=shared_models)
    faces = face_windows(crops, 24)
    assert faces.shape == (24, 6, 96, 96)
    assert not faces[:, :3, 48:].any()  # the target's lower half is masked
    assert faces[:, 3:, 48:].std() > 0.05  # the reference keeps the whole face


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, shared_models, random_wav2lip):
    """A models dir holding the random-weight graph as wav2lip.onnx and the face detector."""
    path = tmp_path_factory.mktemp("models")
    (path / "wav2lip.onnx").symlink_to(random_wav2lip)
    (path / DETECTOR).symlink_to(shared_models / DETECTOR)
    return path


def test_quantize_command_writes_a_working_int8_model(models_dir, capsys):
    argv = ["models", "quantize", "wav2lip", "--image", str(PORTRAIT), "--frames", "16"]
    assert main([*argv, "--models-dir", str(models_dir)]) == 0
    int8_path = models_dir / "wav2lip_int8.onnx"
    assert str(int8_path) in capsys.readouterr().out
    assert sorted(p.name for p in models_dir.iterdir()) == sorted(
        [DETECTOR, "wav2lip.onnx", "wav2lip_int8.onnx"]
    )  # no staging files left behind

    graph = onnx.load(str(int8_path)).graph
    ops = Counter(node.op_type for node in graph.node)
    assert ops["QuantizeLinear"] > 40 and ops["DequantizeLinear"] > 40
    int8_weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    # The decoder's ConvTransposes became Convs (models/subpixel.py): no float kernel is left,
    # and every weight is int8 (45 Convs, 1 + 5 x 4 phase Convs for the 6 up-layers).
    assert ops["ConvTranspose"] == 0 and ops["DepthToSpace"] == 5
    assert len(int8_weights) >= 45 + 1 + 5 * 4

    fp32 = Wav2LipRunner(model_path=models_dir / "wav2lip.onnx")
    int8 = Wav2LipRunner(model_path=int8_path)
    mel = speech_windows(16, text="A different sentence from the calibration one, spoken now.")
    crops = portrait_crops(PORTRAIT, models_dir=models_dir)
    faces = face_windows(crops, 16)
    expected, got = fp32.infer(mel, faces), int8.infer(mel, faces)
    assert got.shape == expected.shape == (16, 3, 96, 96)
    score = psnr(expected, got)
    print(f"fp32 vs int8 PSNR on real inputs (random weights): {score:.1f} dB")
    assert np.isfinite(score)
    assert score > 20.0  # far above what a broken quantisation (wrong scales/axes) gives

    # In parts (face encoder cached, output cropped to the portrait's mouth window) the int8
    # graph gives the very same numbers: the same int8 kernels run on the same values.
    parts = Wav2LipRunner(
        model_path=int8_path, parallel_runs=2, face_cache_bytes=16 << 20, mouth_windows=1
    )
    assert parts.face_split_note.startswith("face encoder cached")
    window = mouth_window(feather_mask())
    y0, y1, x0, x1 = window
    for _ in range(2):  # the second time every face comes from the cache
        windowed = parts.infer(mel, faces, window=window)
        assert np.array_equal(windowed[..., y0:y1, x0:x1], got[..., y0:y1, x0:x1])
    assert parts.face_cache.stats()["hits"] >= 16 and parts.mouth_windows.windows


def test_quantize_without_a_model_says_how_to_get_one(tmp_path, capsys):
    code = main(["models", "quantize", "--image", str(PORTRAIT), "--models-dir", str(tmp_path)])
    assert code == 1
    assert "avatar-chat models fetch wav2lip" in capsys.readouterr().err
