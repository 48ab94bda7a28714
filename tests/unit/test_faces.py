"""BlazeFaceDetector on the shared astronaut portrait: box, keypoints, letterboxing, errors.

The detector runs the registry's file, MediaPipe's .tflite, through LiteRT; one test checks it
finds what ``../shared``'s ONNX export finds through ONNX Runtime.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from actors.engines.avatar.face_model import open_blazeface
from actors.engines.avatar.faces import BlazeFaceDetector, FaceBox, make_anchors
from tests.conftest import SHARED

pytestmark = pytest.mark.unit

PORTRAIT = SHARED / "data" / "portrait_astronaut.png"
# The reference detection quoted in ../shared/models/README.md.
EXPECTED_BOX = (179.0, 82.0, 93.0, 93.0)
TFLITE = "face_detection_short_range.tflite"
ONNX = "face_detection_short_range.onnx"  # pull request 3601's export: only in ../shared


@pytest.fixture(scope="module")
def detector(shared_models) -> BlazeFaceDetector:
    return BlazeFaceDetector(shared_models / TFLITE)


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    bgr = cv2.imread(str(PORTRAIT))
    assert bgr is not None, f"cannot read {PORTRAIT}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _box(face: FaceBox) -> np.ndarray:
    return np.array([face.x, face.y, face.w, face.h])


def test_anchor_layout_follows_the_two_ssd_layers():
    anchors = make_anchors()
    assert anchors.shape == (896, 2)
    # 16x16 cells of stride 8, two anchors each, then 8x8 cells of stride 16, six each.
    assert anchors[0].tolist() == anchors[1].tolist() == [4.0, 4.0]
    assert anchors[2].tolist() == [12.0, 4.0]
    assert anchors[32].tolist() == [4.0, 12.0]
    assert anchors[512].tolist() == anchors[517].tolist() == [8.0, 8.0]
    assert anchors[-1].tolist() == [120.0, 120.0]


def test_best_box_on_the_portrait_matches_the_reference(detector, portrait):
    found = detector.detect(portrait)
    assert found, "no face found on the portrait"
    best = found[0]
    np.testing.assert_allclose(_box(best), EXPECTED_BOX, atol=8.0)
    assert best.score > 0.8
    assert best.score == pytest.approx(0.92, abs=0.03)
    assert all(a.score >= b.score for a, b in zip(found, found[1:], strict=False))


def test_keypoints_sit_where_a_face_has_them(detector, portrait):
    face = detector.detect(portrait)[0]
    assert face.keypoints.shape == (6, 2)
    right_eye, left_eye = face.keypoint("right_eye"), face.keypoint("left_eye")
    nose, mouth = face.keypoint("nose_tip"), face.keypoint("mouth")
    for point in (right_eye, left_eye, nose, mouth):
        assert face.x <= point[0] <= face.x + face.w
        assert face.y <= point[1] <= face.y + face.h
    assert right_eye[1] < mouth[1] and left_eye[1] < mouth[1]
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]
    # The person's right eye is on the viewer's left.
    assert right_eye[0] < left_eye[0]
    assert right_eye[0] < mouth[0] < left_eye[0]


@pytest.mark.parametrize("value", [0, 40, 255])
def test_blank_image_has_no_face(detector, value):
    assert detector.detect(np.full((300, 420, 3), value, np.uint8)) == []


@pytest.mark.parametrize(
    ("width", "height", "left", "top"),
    [(640, 512, 128, 0), (512, 640, 0, 100), (560, 600, 20, 60)],
)
def test_box_follows_the_portrait_in_a_larger_non_square_canvas(
    detector, portrait, width, height, left, top
):
    reference = detector.detect(portrait)[0]
    canvas = np.full((height, width, 3), 40, np.uint8)
    canvas[top : top + 512, left : left + 512] = portrait
    found = detector.detect(canvas)
    assert found, f"no face in the {width}x{height} canvas"
    moved = found[0]
    shift = np.array([left, top, 0.0, 0.0])
    np.testing.assert_allclose(_box(moved) - shift, _box(reference), atol=8.0)
    # Eyes, nose and mouth; the ear points are the model's least stable outputs.
    np.testing.assert_allclose(moved.keypoints[:4] - [left, top], reference.keypoints[:4], atol=8.0)


def test_upscaled_portrait_maps_back_to_its_own_pixels(detector, portrait):
    big = cv2.resize(portrait, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    face = detector.detect(big)[0]
    np.testing.assert_allclose(_box(face) / 2.0, _box(detector.detect(portrait)[0]), atol=2.0)


def test_tflite_through_litert_finds_what_the_onnx_export_finds(detector, shared_models, portrait):
    if not (shared_models / ONNX).is_file():
        pytest.skip(f"{ONNX} is only in ../shared (MediaPipe publishes no ONNX export)")
    reference = BlazeFaceDetector(shared_models / ONNX)
    for image in (portrait, portrait[:, ::-1].copy(), portrait[40:500, 10:400].copy()):
        got, expected = detector.detect(image), reference.detect(image)
        assert len(got) == len(expected) >= 1
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_allclose(_box(a), _box(b), atol=1.0)  # within a pixel
            np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1.0)
            assert a.score == pytest.approx(b.score, abs=0.01)


def test_model_outputs_of_both_runtimes_agree(shared_models):
    if not (shared_models / ONNX).is_file():
        pytest.skip(f"{ONNX} is only in ../shared")
    tensor = np.random.default_rng(0).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)
    litert = open_blazeface(shared_models / TFLITE)(tensor)
    onnx = open_blazeface(shared_models / ONNX)(tensor)
    for a, b in zip(litert, onnx, strict=True):
        assert a.shape == b.shape and a.dtype == np.float32
        np.testing.assert_allclose(a, b, atol=1e-3)  # float16 weights either way: ~1e-4 apart


def test_a_file_that_is_not_blazeface_is_refused(tmp_path):
    junk = tmp_path / TFLITE
    junk.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(ValueError, match="not a TFLite model"):
        BlazeFaceDetector(junk)
    other = tmp_path / "model.pb"
    other.write_bytes(b"x")
    with pytest.raises(ValueError, match="expected .tflite or .onnx"):
        BlazeFaceDetector(other)


def test_missing_model_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / TFLITE
    with pytest.raises(FileNotFoundError, match="nowhere"):
        BlazeFaceDetector(missing)


@pytest.mark.parametrize("options", [{"score_threshold": 0.0}, {"nms_iou": 1.5}])
def test_invalid_options_are_refused(shared_models, options):
    with pytest.raises(ValueError):
        BlazeFaceDetector(shared_models / TFLITE, **options)


def test_wrong_image_type_is_refused(detector, portrait):
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(portrait.astype(np.float32))
    with pytest.raises(ValueError):
        detector.detect(portrait[..., 0])
