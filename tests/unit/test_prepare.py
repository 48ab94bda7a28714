"""prepare_avatar and AvatarPack: images, generated videos, smoothing, ping-pong, errors."""

from __future__ import annotations

import hashlib
import json

import av
import cv2
import numpy as np
import pytest

from actors.engines.avatar import faces
from actors.engines.avatar.faces import FaceBox
from actors.engines.avatar.prepare import (
    AvatarPack,
    NoFaceFoundError,
    UnreadableInputError,
    prepare_avatar,
)
from tests.conftest import SHARED

pytestmark = pytest.mark.unit

PORTRAIT = SHARED / "data" / "portrait_astronaut.png"


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(PORTRAIT)), cv2.COLOR_BGR2RGB)


def write_video(path, frames, fps=25):
    """Encode RGB frames as H.264 with PyAV (what a user's short clip would be)."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def shifted(image, dx):
    matrix = np.float32([[1, 0, dx], [0, 1, 0]])
    size = (image.shape[1], image.shape[0])
    return cv2.warpAffine(image, matrix, size, borderMode=cv2.BORDER_REPLICATE)


class ScriptedDetector:
    """Returns the scripted faces for successive frames (fake for the detector factory)."""

    def __init__(self, script):
        self.script, self.calls = list(script), 0

    def detect(self, image):
        self.calls += 1
        return self.script.pop(0)


def face_at(x, y=20.0, size=40.0, score=0.9):
    kps = np.array([[x + 12, y + 12], [x + 28, y + 12], [x + 20, y + 22], [x + 20, y + 30]] * 2)
    return FaceBox(x, y, size, size, score, kps[:6].astype(float))


def test_portrait_pack_has_consistent_arrays_and_meta(tmp_path, shared_models, portrait):
    pack = prepare_avatar(PORTRAIT, name="astro", avatars_dir=tmp_path, models_dir=shared_models)
    assert len(pack) == 1
    np.testing.assert_array_equal(pack.frames[0], portrait)
    x0, y0, x1, y1 = pack.boxes[0]
    # The detected face (about 179, 82, 93 x 93) with the bottom padded for the chin.
    assert abs(x0 - 179) <= 8 and abs(y0 - 82) <= 8 and abs(x1 - 272) <= 8
    assert 93 < y1 - y0 <= 93 * 1.1 + 10
    expected_crop = cv2.resize(portrait[y0:y1, x0:x1], (96, 96), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(pack.crops[0], expected_crop)
    assert pack.mask.dtype == np.float32 and pack.mask.shape == (96, 96)
    assert pack.mask.min() >= 0.0 and pack.mask.max() == pytest.approx(1.0)
    # The feather reaches ~0 at the crop border and is strongest at the mouth.
    border = np.concatenate([pack.mask[0], pack.mask[-1], pack.mask[:, 0], pack.mask[:, -1]])
    assert border.max() < 0.01
    mouth_x, mouth_y = (np.array(pack.meta["mouth_xy"]) * 96).astype(int)
    assert pack.mask[mouth_y, mouth_x] > 0.95
    assert pack.mask[15, 48] < 0.01  # the eyes' row stays original

    meta = json.loads((tmp_path / "astro" / "meta.json").read_text())
    model = shared_models / "face_detection_short_range.tflite"  # the registry's file
    assert meta["detector"]["model"] == model.name
    assert meta["detector"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert meta["name"] == "astro" and meta["source"] == PORTRAIT.name
    assert meta["size"] == [512, 512] and meta["scale"] == 1.0 and meta["fps"] == 25.0
    assert meta["kind"] == "image" and meta["version"] == 1 and meta["created"]
    for name in ("frames", "boxes", "crops", "mask"):
        assert (tmp_path / "astro" / f"{name}.npy").is_file()


def test_load_round_trips_without_creating_a_detector(tmp_path, shared_models, monkeypatch):
    made = []

    def factory(path):
        made.append(path)
        return faces.BlazeFaceDetector(path)

    saved = prepare_avatar(
        PORTRAIT, name="astro", avatars_dir=tmp_path, models_dir=shared_models,
        detector_factory=factory,
    )  # fmt: skip
    assert len(made) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("AvatarPack.load must not create a detector")

    monkeypatch.setattr(faces.BlazeFaceDetector, "__init__", refuse)
    loaded = AvatarPack.load(tmp_path, "astro")
    assert len(made) == 1
    for key in ("frames", "boxes", "crops", "mask"):
        np.testing.assert_array_equal(getattr(loaded, key), getattr(saved, key))
    assert loaded.meta == saved.meta and loaded.fps == 25.0


def test_huge_image_is_downscaled_and_the_scale_recorded(tmp_path, shared_models, portrait):
    big = cv2.resize(portrait, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
    pack = prepare_avatar(path, name="big", avatars_dir=tmp_path, models_dir=shared_models)
    assert pack.frames.shape == (1, 1024, 1024, 3)
    assert pack.meta["scale"] == 0.5 and pack.meta["size"] == [1024, 1024]
    x0, y0, x1, _ = pack.boxes[0]
    np.testing.assert_allclose([x0 / 2, y0 / 2, (x1 - x0) / 2], [179, 82, 93], atol=8)


def test_video_boxes_follow_the_face_and_frames_ping_pong(tmp_path, shared_models, portrait):
    n, step = 8, 3
    frames = [shifted(portrait, step * i) for i in range(n)]
    video = write_video(tmp_path / "clip.mp4", frames)
    pack = prepare_avatar(video, name="clip", avatars_dir=tmp_path, models_dir=shared_models)
    assert pack.meta["kind"] == "video" and pack.meta["fps"] == 25.0
    assert pack.meta["source_frames"] == n and len(pack) == 2 * n - 2
    # Ping-pong: 0..N-1 then N-2..1, so index k and 2N-2-k show the same source frame.
    for k in range(1, n - 1):
        np.testing.assert_array_equal(pack.frames[k], pack.frames[2 * n - 2 - k])
        np.testing.assert_array_equal(pack.boxes[k], pack.boxes[2 * n - 2 - k])
        np.testing.assert_array_equal(pack.crops[k], pack.crops[2 * n - 2 - k])
    assert np.abs(pack.frames[1].astype(int) - pack.frames[0]).mean() > 1  # frames do move
    # The crop box moves with the face: a straight line of slope `step` px per frame.
    x0 = pack.boxes[:n, 0].astype(float)
    slope, intercept = np.polyfit(np.arange(n), x0, 1)
    assert slope == pytest.approx(step, abs=1.0)
    assert np.abs(x0 - (slope * np.arange(n) + intercept)).max() <= 3


def test_max_frames_limits_the_source_frames(tmp_path, shared_models, portrait):
    video = write_video(tmp_path / "clip.mp4", [portrait] * 6)
    pack = prepare_avatar(
        video, name="short", avatars_dir=tmp_path, models_dir=shared_models, max_frames=4
    )
    assert pack.meta["source_frames"] == 4 and len(pack) == 6


def test_box_jitter_is_smoothed_over_time(tmp_path, shared_models):
    video = write_video(tmp_path / "grey.mp4", [np.full((128, 128, 3), 90, np.uint8)] * 9)
    jitter = [[face_at(40.0 + (6 if i % 2 else -6))] for i in range(9)]

    def prepare(window):
        detector = ScriptedDetector(jitter)
        pack = prepare_avatar(
            video, name=f"w{window}", avatars_dir=tmp_path, models_dir=shared_models,
            smooth_window=window, detector_factory=lambda path: detector,
        )  # fmt: skip
        assert detector.calls == 9
        return pack.boxes[:9, 0]

    assert np.ptp(prepare(1)) == 12  # raw: +-6 px from frame to frame
    assert np.ptp(prepare(5)) <= 4


def test_tracking_keeps_the_same_face(tmp_path, shared_models):
    video = write_video(tmp_path / "two.mp4", [np.full((128, 128, 3), 90, np.uint8)] * 3)
    # From frame 1 a second face scores higher; the pack must stay on the first one.
    script = [[face_at(10.0)], [face_at(70.0, score=0.99), face_at(12.0)], [face_at(14.0)]]
    pack = prepare_avatar(
        video, name="two", avatars_dir=tmp_path, models_dir=shared_models, smooth_window=1,
        detector_factory=lambda path: ScriptedDetector(script),
    )  # fmt: skip
    assert pack.boxes[:3, 0].tolist() == [10, 12, 14]


def test_no_face_names_the_file(tmp_path, shared_models):
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((200, 300, 3), 128, np.uint8))
    with pytest.raises(NoFaceFoundError, match="wall.png") as info:
        prepare_avatar(blank, name="wall", avatars_dir=tmp_path, models_dir=shared_models)
    assert isinstance(info.value, ValueError)
    assert not (tmp_path / "wall").exists()


def test_no_face_in_one_video_frame_names_the_frame(tmp_path, shared_models, portrait):
    frames = [portrait] * 5
    frames[3] = np.full_like(portrait, 128)
    video = write_video(tmp_path / "gap.mp4", frames)
    with pytest.raises(NoFaceFoundError, match=r"gap\.mp4.*frame 3"):
        prepare_avatar(video, name="gap", avatars_dir=tmp_path, models_dir=shared_models)


@pytest.mark.parametrize("filename", ["broken.png", "broken.jpg", "broken.mp4", "broken.webm"])
def test_unreadable_input_names_the_file(tmp_path, shared_models, filename):
    path = tmp_path / filename
    path.write_bytes(b"definitely not media " * 50)
    with pytest.raises(UnreadableInputError, match=filename.replace(".", r"\.")):
        prepare_avatar(path, name="broken", avatars_dir=tmp_path, models_dir=shared_models)


def test_missing_and_unsupported_inputs(tmp_path, shared_models):
    with pytest.raises(FileNotFoundError, match="absent.png"):
        prepare_avatar(
            tmp_path / "absent.png", name="a", avatars_dir=tmp_path, models_dir=shared_models
        )
    gif = tmp_path / "face.gif"
    gif.write_bytes(b"GIF89a")
    with pytest.raises(ValueError, match="unsupported"):
        prepare_avatar(gif, name="a", avatars_dir=tmp_path, models_dir=shared_models)


@pytest.mark.parametrize("name", ["", "a b", "../escape", "x/y", "naïve", "a" * 65, "dot.ted"])
def test_bad_names_are_refused(tmp_path, shared_models, name):
    with pytest.raises(ValueError, match="avatar name"):
        prepare_avatar(PORTRAIT, name=name, avatars_dir=tmp_path, models_dir=shared_models)
    with pytest.raises(ValueError, match="avatar name"):
        AvatarPack.load(tmp_path, name)


def test_preparing_again_replaces_the_pack(tmp_path, shared_models):
    first = prepare_avatar(
        PORTRAIT, name="Astro_2-b", avatars_dir=tmp_path, models_dir=shared_models
    )
    second = prepare_avatar(
        PORTRAIT, name="Astro_2-b", avatars_dir=tmp_path, models_dir=shared_models, pad_bottom=0.2
    )
    assert second.boxes[0, 3] > first.boxes[0, 3]
    np.testing.assert_array_equal(AvatarPack.load(tmp_path, "Astro_2-b").boxes, second.boxes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Astro_2-b"]


def test_load_reports_missing_and_damaged_packs(tmp_path, shared_models):
    with pytest.raises(FileNotFoundError, match="ghost"):
        AvatarPack.load(tmp_path, "ghost")
    prepare_avatar(PORTRAIT, name="astro", avatars_dir=tmp_path, models_dir=shared_models)
    pack_dir = tmp_path / "astro"
    meta_text = (pack_dir / "meta.json").read_text()
    (pack_dir / "meta.json").write_text(json.dumps({**json.loads(meta_text), "version": 99}))
    with pytest.raises(ValueError, match="version 99"):
        AvatarPack.load(tmp_path, "astro")
    (pack_dir / "meta.json").write_text(meta_text)
    np.save(pack_dir / "crops.npy", np.zeros((1, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="inconsistent"):
        AvatarPack.load(tmp_path, "astro")
    (pack_dir / "crops.npy").unlink()
    with pytest.raises(ValueError, match="damaged"):
        AvatarPack.load(tmp_path, "astro")


def test_missing_detector_model_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="face_detection_short_range.tflite"):
        prepare_avatar(PORTRAIT, name="astro", avatars_dir=tmp_path, models_dir=tmp_path / "none")
