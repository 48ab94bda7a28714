"""Model registry: entries, lookups in the shared models, missing-model messages, checksums."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from models.registry import (
    REGISTRY,
    ModelMissing,
    find_model,
    get_spec,
    model_path,
    require_model,
    sha256_file,
)

pytestmark = pytest.mark.unit


def test_every_entry_is_complete():
    for name, spec in REGISTRY.items():
        assert spec.name == name
        assert spec.kind in ("onnx", "tflite", "pytorch", "bundled", "external")
        assert spec.licence and spec.notes
        assert spec.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
        if spec.fetchable:  # found, not assumed: each has a published source and checksum
            assert spec.filename.endswith(".tflite" if spec.kind == "tflite" else ".onnx")
            assert spec.url.startswith("https://") and spec.sha256
    for name in ("wav2lip", "wav2lip_gan"):
        spec = REGISTRY[name]
        assert "non-commercial" in spec.licence
        assert spec.url.startswith("https://") and spec.url.endswith(".pth")
        assert spec.kind == "pytorch" and spec.filename == f"{name}.onnx"


def test_face_detector_is_mediapipes_published_file():
    spec = REGISTRY["face_detection_short_range"]
    assert spec.kind == "tflite" and spec.filename == "face_detection_short_range.tflite"
    assert spec.url.startswith("https://storage.googleapis.com/mediapipe-assets/")
    assert spec.download_name == "face_detection_short_range.tflite"  # no ?generation=
    assert REGISTRY["wav2lip"].download_name == "wav2lip.pth"
    assert "face_landmark" not in REGISTRY  # nothing uses it


def test_shared_face_detector_is_found_and_matches_its_checksum(shared_models):
    name = "face_detection_short_range"
    path = find_model(name, shared_models)
    assert path == shared_models / REGISTRY[name].filename
    assert sha256_file(path) == REGISTRY[name].sha256
    assert require_model(name, shared_models) == path


def test_missing_wav2lip_says_how_to_fetch_it(shared_models):
    assert find_model("wav2lip", shared_models) is None
    with pytest.raises(ModelMissing) as info:
        require_model("wav2lip", shared_models)
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert "avatar-chat models fetch wav2lip" in message
    assert str(shared_models / "wav2lip.onnx") in message


def test_missing_face_detector_says_how_to_fetch_it(tmp_path):
    with pytest.raises(ModelMissing, match="avatar-chat models fetch face_detection_short_range"):
        require_model("face_detection_short_range", tmp_path)


def test_int8_file_sits_beside_the_fp32_one(tmp_path):
    assert model_path("wav2lip", tmp_path) == tmp_path / "wav2lip.onnx"
    assert model_path("wav2lip", tmp_path, precision="int8") == tmp_path / "wav2lip_int8.onnx"
    with pytest.raises(ModelMissing, match="avatar-chat models quantize wav2lip"):
        require_model("wav2lip", tmp_path, precision="int8")
    (tmp_path / "wav2lip_int8.onnx").write_bytes(b"x")
    assert find_model("wav2lip", tmp_path, precision="int8") == tmp_path / "wav2lip_int8.onnx"
    assert find_model("wav2lip", tmp_path) is None
    with pytest.raises(ValueError, match="precision"):
        model_path("wav2lip", tmp_path, precision="fp16")


def test_wav2lip_url_can_be_overridden_from_the_environment():
    spec = REGISTRY["wav2lip"]
    mirror = "https://example.org/mirror/wav2lip.pth"
    assert spec.source_url({"AVATAR_CHAT_WAV2LIP_URL": mirror}) == mirror
    assert spec.source_url({"AVATAR_CHAT_WAV2LIP_URL": ""}) == spec.url
    assert spec.source_url({}) == spec.url
    detector = REGISTRY["face_detection_short_range"]
    assert detector.source_url({"AVATAR_CHAT_FACE_DETECTOR_URL": mirror}) == mirror


def test_silero_vad_is_found_inside_faster_whisper():
    import faster_whisper

    path = find_model("silero_vad", "/nonexistent")
    assert path is not None and path.is_file() and path.suffix == ".onnx"
    assert Path(faster_whisper.__file__).parent in path.parents
    with pytest.raises(ValueError, match="bundled"):
        model_path("silero_vad", "/nonexistent")


def test_whisper_names_match_the_documenting_entry():
    spec = get_spec("whisper-small.en")
    assert spec is REGISTRY["whisper-*"] and spec.kind == "external"
    assert find_model("whisper-base", "/nonexistent") is None
    with pytest.raises(KeyError, match="unknown model 'wav3lip'"):
        get_spec("wav3lip")


def test_sha256_file_reads_in_blocks(tmp_path):
    data = bytes(range(256)) * 1000
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_file(path, block_size=4096) == hashlib.sha256(data).hexdigest()
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
