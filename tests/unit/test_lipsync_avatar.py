"""Wav2LipAvatar on the prepared astronaut pack with the random-weight Wav2Lip model."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from actors.engines.avatar import faces
from actors.engines.avatar.pasteback import feather_mask
from actors.engines.avatar.prepare import PACK_VERSION, AvatarPack
from actors.engines.avatar.renderer_choice import make_avatar
from actors.engines.avatar.sprite import SpriteAvatar
from actors.engines.avatar.wav2lip import Wav2LipAvatar, frame_count, unavailable_reason
from actors.engines.avatar.wav2lip_runner import Wav2LipRunner, output_to_rgb, prepare_face_input
from config import Settings

pytestmark = pytest.mark.unit


class RecordingRunner:
    """The real runner, recording the batch size of every call."""

    def __init__(self, runner: Wav2LipRunner) -> None:
        self.runner = runner
        self.batches: list[int] = []

    def infer(self, mel, faces_in, window=None):
        self.batches.append(len(mel))
        return self.runner.infer(mel, faces_in, window=window)


@pytest.fixture(scope="module")
def dirs(astro_pack, wav2lip_models_dir):
    """(avatars_dir with the 'astro' pack, models_dir holding wav2lip.onnx, the pack)."""
    return astro_pack[0], wav2lip_models_dir, astro_pack[1]


@pytest.fixture(scope="module")
def runner(dirs):
    return RecordingRunner(
        Wav2LipRunner(
            model_path=dirs[1] / "wav2lip.onnx",
            providers=["CPUExecutionProvider"],
            intra_op_threads=2,
        )
    )


@pytest.fixture
def astro(dirs, runner):
    runner.batches.clear()
    return Wav2LipAvatar(dirs[2], runner=runner, batch_size=3)


def synthetic_pack(n: int = 3, size: int = 64) -> AvatarPack:
    """``n`` flat frames of different greys, each with its own crop box."""
    frames = np.stack([np.full((size, size, 3), 40 * (i + 1), np.uint8) for i in range(n)])
    boxes = np.array([[8 + 2 * i, 10, 40 + 2 * i, 50] for i in range(n)], np.int32)
    crops = np.stack(
        [
            cv2.resize(f[y0:y1, x0:x1], (96, 96))
            for f, (x0, y0, x1, y1) in zip(frames, boxes, strict=True)
        ]
    )
    return AvatarPack("synth", frames, boxes, crops, feather_mask(), {"version": PACK_VERSION})


def speech(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    wave = np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (wave * 8000 + rng.normal(0, 300, len(t))).astype(np.int16)


def settings_for(avatars, models, **overrides) -> Settings:
    data = {
        "avatar": {"kind": "wav2lip", "name": "astro"},
        "lipsync": {"providers": ["CPUExecutionProvider"], "intra_op_threads": 1},
        "avatars_dir": str(avatars),
        "models_dir": str(models),
    }
    for section, values in overrides.items():
        data[section] = {**data.get(section, {}), **values}
    return Settings.load(data, env={})


@pytest.mark.parametrize(
    ("n_samples", "rate", "expected"),
    [(0, 16000, 0), (1, 16000, 1), (640, 16000, 1), (641, 16000, 2), (16000, 16000, 25),
     (16001, 16000, 26), (24000, 24000, 25), (36000, 24000, 38), (48000, 48000, 25)],
)  # fmt: skip
def test_frame_count_is_25_per_second_rounded_up(n_samples, rate, expected):
    assert frame_count(n_samples, rate) == expected


def test_inputs_shapes_and_masked_lower_half(astro):
    mel, face_in = astro.inputs(speech(1.0), 16000, 0)
    assert mel.shape == (25, 1, 80, 16) and mel.dtype == np.float32
    assert face_in.shape == (25, 6, 96, 96) and face_in.dtype == np.float32
    assert not face_in[:, :3, 48:].any() and face_in[:, :3, :48].any()
    np.testing.assert_array_equal(face_in[:, 3:, 48:].std() > 0, True)  # the reference is whole
    mel24, face24 = astro.inputs(speech(1.5, 24000), 24000, 7)
    assert mel24.shape == (38, 1, 80, 16) and face24.shape == (38, 6, 96, 96)
    assert not np.array_equal(mel[0], mel[10])  # windows move with the audio


def test_crops_and_paste_are_the_uint8_form_of_inputs_and_compose(astro):
    crops = astro.face_crops(3, 4)
    assert crops.dtype == np.uint8 and crops.shape == (4, 96, 96, 3)
    np.testing.assert_array_equal(prepare_face_input(crops, crops), astro.face_inputs(3, 4))
    outputs = np.random.default_rng(5).uniform(0, 1, (4, 3, 96, 96)).astype(np.float32)
    np.testing.assert_array_equal(astro.paste(output_to_rgb(outputs), 3), astro.compose(outputs, 3))


def test_face_inputs_follow_the_absolute_frame_index():
    avatar = Wav2LipAvatar(synthetic_pack(3))
    got = avatar.face_inputs(4, 3)
    want = np.stack([avatar.face_inputs(i, 1)[0] for i in (1, 2, 0)])
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(got[0], got[1])


def test_compose_pastes_only_inside_the_crop_box(astro, dirs):
    pack = dirs[2]
    outputs = np.random.default_rng(1).uniform(0, 1, (2, 3, 96, 96)).astype(np.float32)
    frames = astro.compose(outputs, 5)
    assert frames.shape == (2, astro.height, astro.width, 3) and frames.dtype == np.uint8
    x0, y0, x1, y1 = pack.boxes[0]
    outside = np.ones(frames.shape[1:3], bool)
    outside[y0:y1, x0:x1] = False
    for frame in frames:
        np.testing.assert_array_equal(frame[outside], pack.frames[0][outside])
        assert np.abs(frame[y0:y1, x0:x1].astype(int) - pack.frames[0][y0:y1, x0:x1]).max() > 20


def test_compose_uses_the_pack_frame_of_each_index():
    pack = synthetic_pack(3)
    avatar = Wav2LipAvatar(pack)
    frames = avatar.compose(np.full((4, 3, 96, 96), 0.5, np.float32), 2)
    for k, i in enumerate([2, 0, 1, 2]):
        x0, y0, x1, y1 = pack.boxes[i]
        outside = np.ones((64, 64), bool)
        outside[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(frames[k][outside], pack.frames[i][outside])


def test_odd_sized_frames_lose_their_last_row_and_column():
    pack = synthetic_pack(2, size=65)  # H.264 needs even sides
    avatar = Wav2LipAvatar(pack)
    assert (avatar.width, avatar.height) == (64, 64)
    assert avatar.idle(3).shape == avatar.compose(np.zeros((3, 3, 96, 96), np.float32)).shape
    assert avatar.idle(1).shape == (1, 64, 64, 3)
    np.testing.assert_array_equal(avatar.idle(1, first_frame=1)[0], pack.frames[1, :64, :64])


def test_idle_loops_the_pack_frames_and_never_calls_the_runner(runner):
    runner.batches.clear()
    pack = synthetic_pack(3)
    avatar = Wav2LipAvatar(pack, runner=runner)
    frames = avatar.idle(7, first_frame=5)
    np.testing.assert_array_equal(frames, pack.frames[[2, 0, 1, 2, 0, 1, 2]])
    assert avatar.idle(0, first_frame=3).shape == (0, 64, 64, 3)
    assert runner.batches == []


def test_talking_makes_one_frame_per_640_samples_in_batches(astro, runner, dirs):
    pcm = speech(3 * 640 / 16000 + 1e-4)  # 3 frames and 1 sample: 4 frames
    frames = astro.talking(pcm, 16000, first_frame=3)
    assert frames.shape == (4, astro.height, astro.width, 3)
    assert runner.batches == [3, 1]  # batch_size=3
    # the same as running the two halves by hand
    mel, face_in = astro.inputs(pcm, 16000, 3)
    by_hand = astro.compose(runner.runner.infer(mel, face_in), 3)
    assert np.abs(frames.astype(int) - by_hand).max() <= 1
    x0, y0, x1, y1 = dirs[2].boxes[0]
    assert np.abs(frames[0, y0:y1, x0:x1].astype(int) - dirs[2].frames[0, y0:y1, x0:x1]).max() > 0
    runner.batches.clear()
    assert len(astro.talking(speech(2 * 960 / 24000, 24000), 24000)) == 2
    assert runner.batches == [2]


def test_loading_a_pack_creates_no_detector(dirs, monkeypatch):
    def no_detector(*args, **kwargs):
        raise AssertionError("a face detector was created")

    monkeypatch.setattr(faces.BlazeFaceDetector, "__init__", no_detector)
    avatars, models, pack = dirs
    loaded = Wav2LipAvatar.load(avatars, "astro")
    assert (loaded.width, loaded.height, loaded.kind) == (512, 512, "wav2lip")
    np.testing.assert_array_equal(loaded.pack.boxes, pack.boxes)
    local = make_avatar(settings_for(avatars, models))
    assert isinstance(local, Wav2LipAvatar) and local.runner is not None and local.note == ""


def test_missing_weights_or_pack_fall_back_to_the_sprite_with_a_reason(dirs, tmp_path):
    avatars, models, _ = dirs
    assert unavailable_reason(settings_for(avatars, models)) is None
    cases = [
        (settings_for(avatars, tmp_path), "avatar-chat models fetch wav2lip"),
        (settings_for(avatars, models, lipsync={"precision": "int8"}), "models quantize"),
        (settings_for(tmp_path, models), "avatar-chat avatar prepare"),
        (settings_for(avatars, models, avatar={"name": None}), "avatar.name"),
    ]
    for settings, hint in cases:
        avatar = make_avatar(settings)
        assert isinstance(avatar, SpriteAvatar)
        assert hint in avatar.note and "sprite" in avatar.note
    assert make_avatar(Settings.load({}, env={})).note == ""


def test_options_are_validated(dirs):
    pack = dirs[2]
    with pytest.raises(ValueError, match="batch_size"):
        Wav2LipAvatar(pack, batch_size=0)
    with pytest.raises(ValueError, match="AvatarPack"):
        Wav2LipAvatar("astro")
    with pytest.raises(ValueError, match="first_frame"):
        Wav2LipAvatar(pack).idle(3, first_frame=-1)
    with pytest.raises(RuntimeError, match="runner"):
        Wav2LipAvatar(pack).talking(speech(0.1), 16000)
