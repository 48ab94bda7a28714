"""SpriteAvatar and MouthEnvelope: frame counts, seamless timeline, blinks, lip movement."""

from __future__ import annotations

import math

import numpy as np
import pytest

from actors.engines.avatar.base import AvatarRenderer
from actors.engines.avatar.envelope import MouthEnvelope, frame_levels_db
from actors.engines.avatar.sprite import EYE_REGION, SpriteAvatar

pytestmark = pytest.mark.unit

SR = 24000
FPS = 25
SPF = SR // FPS


@pytest.fixture(scope="module")
def avatar() -> SpriteAvatar:
    return SpriteAvatar()


def speech_like(seed: int, seconds: float = 8.0) -> np.ndarray:
    """A 150 Hz harmonic voice, amplitude-modulated by syllable bursts of random length and level,
    separated by pauses of random length (PCM16 at 24 kHz)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    phase = 2 * np.pi * np.cumsum(150.0 * (1 + 0.08 * np.sin(2 * np.pi * 0.7 * t))) / SR
    voice = sum(np.sin(k * phase) / k for k in range(1, 9))
    envelope = np.zeros(n)
    pos = int(0.3 * SR)
    while pos < n:
        length = int(rng.uniform(0.08, 0.35) * SR)
        burst = rng.uniform(0.25, 1.0) * np.sin(np.pi * np.arange(length) / length) ** 0.6
        envelope[pos : pos + length] = burst[: max(0, min(length, n - pos))]
        pos += length + int(rng.uniform(0.04, 0.35) * SR)
    return (0.35 * 32767 * voice / np.abs(voice).max() * envelope).astype(np.int16)


def audio_level_db(pcm: np.ndarray, n_frames: int) -> np.ndarray:
    """The audio envelope, computed here independently: RMS dBFS per video frame, floor -60."""
    padded = np.zeros(n_frames * SPF)
    padded[: len(pcm)] = pcm / 32768.0
    rms = np.sqrt(np.square(padded.reshape(n_frames, SPF)).mean(axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-3))


def crop(frames: np.ndarray, box) -> np.ndarray:
    x0, y0, x1, y1 = box
    return frames[:, y0:y1, x0:x1].astype(np.float32)


def test_satisfies_renderer_protocol(avatar):
    assert isinstance(avatar, AvatarRenderer)
    assert (avatar.fps, avatar.width, avatar.height) == (25, 384, 384)


@pytest.mark.parametrize("sample_rate", [16000, 24000, 48000])
@pytest.mark.parametrize("n_samples_in_frames", [0.0, 0.001, 0.5, 1.0, 1.001, 7.0, 7.999, 50.02])
def test_talking_frame_count_is_exact_ceil(avatar, sample_rate, n_samples_in_frames):
    spf = sample_rate // FPS
    n = round(n_samples_in_frames * spf)
    pcm = (np.random.default_rng(n).normal(0, 3000, n)).astype(np.int16)
    frames = avatar.talking(pcm, sample_rate)
    assert frames.shape == (math.ceil(n / spf), 384, 384, 3)
    assert frames.dtype == np.uint8


def test_idle_shape_dtype_and_empty(avatar):
    assert avatar.idle(0).shape == (0, 384, 384, 3)
    frames = avatar.idle(3, first_frame=10)
    assert frames.shape == (3, 384, 384, 3) and frames.dtype == np.uint8


def test_idle_frames_are_never_blank(avatar):
    frames = avatar.idle(150)
    per_frame_std = frames.reshape(len(frames), -1).std(axis=1)
    per_frame_mean = frames.reshape(len(frames), -1).mean(axis=1)
    assert per_frame_std.min() > 20, "a frame is flat (blank)"
    assert 60 < per_frame_mean.min() and per_frame_mean.max() < 230


def test_idle_blinks_within_six_seconds(avatar):
    frames = avatar.idle(6 * FPS)
    x0, y0, x1, y1 = (round(v * 384) for v in EYE_REGION)
    eyes = frames[:, y0:y1, x0:x1]
    white = (eyes.min(axis=3) > 235).sum(axis=(1, 2))  # visible sclera pixels
    assert np.median(white) > 100, "eyes should be open most of the time"
    closed = white < 0.2 * np.median(white)
    assert closed.any(), "no blink in 6 s"
    assert closed.mean() < 0.1, "blinks should be brief"


def test_idle_has_subtle_motion(avatar):
    frames = avatar.idle(150).astype(np.int16)
    distinct = {f.tobytes() for f in frames.astype(np.uint8)}
    assert len(distinct) >= 10, "the idle face should move (breathing, glances)"
    step = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    assert step.max() < 4.0, "idle motion should be subtle, without jumps"
    # Far apart in time the head outline is shifted (the bob), not just the eyes.
    outside_features = np.abs(frames[0] - frames[52])
    x0, y0, x1, y1 = avatar.mouth_box
    outside_features[y0:y1, x0:x1] = 0
    ex0, ey0, ex1, ey1 = (round(v * 384) for v in EYE_REGION)
    outside_features[ey0:ey1, ex0:ex1] = 0
    assert outside_features.mean() > 0.2


@pytest.mark.parametrize("start, split", [(0, 50), (1000, 37), (7, 1)])
def test_consecutive_calls_join_seamlessly(avatar, start, split):
    whole = avatar.idle(100, first_frame=start)
    parts = np.concatenate(
        [
            avatar.idle(split, first_frame=start),
            avatar.idle(100 - split, first_frame=start + split),
        ]
    )
    np.testing.assert_array_equal(whole, parts)


def test_silent_speech_looks_like_idle(avatar):
    silence = np.zeros(40 * SPF, dtype=np.int16)
    np.testing.assert_array_equal(
        avatar.talking(silence, SR, first_frame=123), avatar.idle(40, first_frame=123)
    )


def test_speech_changes_only_the_mouth_box(avatar):
    loud = (12000 * np.sin(2 * np.pi * 150 * np.arange(30 * SPF) / SR)).astype(np.int16)
    talking = avatar.talking(loud, SR, first_frame=400)
    idle = avatar.idle(30, first_frame=400)
    x0, y0, x1, y1 = avatar.mouth_box
    assert 0 <= x0 < x1 <= 384 and 0 <= y0 < y1 <= 384
    diff = np.abs(talking.astype(np.int16) - idle).sum(axis=3)
    assert diff[:, y0:y1, x0:x1].sum(axis=(1, 2))[5:].min() > 1000, "mouth should be open"
    diff[:, y0:y1, x0:x1] = 0
    assert diff.max() == 0, "speech changed pixels outside mouth_box"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_acceptance_mouth_change_correlates_with_audio_envelope(avatar, seed):
    """The mouth region's frame-to-frame change correlates with the audio envelope (r >= 0.6).

    The audio envelope is the per-frame RMS level in dBFS, computed in this test
    from the samples each frame covers. Frame-to-frame change of the mouth region is
    the mean absolute pixel difference inside ``mouth_box`` between frame i and
    i-1; it is correlated with the absolute change of the envelope between the same
    frames (the mouth should move when the loudness moves, and rest when it does
    not). As a second, level-wise check the mouth region's darkness (an open mouth
    shows the dark inside) must follow the envelope itself.
    """
    pcm = speech_like(seed)
    frames = avatar.talking(pcm, SR)
    mouth = crop(frames, avatar.mouth_box)
    level = audio_level_db(pcm, len(frames))

    mouth_change = np.abs(np.diff(mouth, axis=0)).mean(axis=(1, 2, 3))
    level_change = np.abs(np.diff(level))
    r_change = np.corrcoef(mouth_change, level_change)[0, 1]
    assert r_change >= 0.6, f"mouth change vs envelope change r={r_change:.3f}"

    darkness = (255.0 - mouth.mean(axis=3)).mean(axis=(1, 2))
    r_level = np.corrcoef(darkness, level)[0, 1]
    assert r_level >= 0.8, f"mouth darkness vs envelope r={r_level:.3f}"


def test_size_and_option_validation():
    for bad in (255, 513, 100):
        with pytest.raises(ValueError, match="size"):
            SpriteAvatar(size=bad)
    with pytest.raises(ValueError, match="smoothing"):
        SpriteAvatar(mouth_smoothing=1.0)
    with pytest.raises(ValueError, match="palette"):
        SpriteAvatar(palette="neon")
    small = SpriteAvatar(size=256)
    assert small.idle(2).shape == (2, 256, 256, 3)
    with pytest.raises(ValueError):
        small.idle(-1)
    with pytest.raises(ValueError):
        small.talking(np.zeros(1000, np.int16), 22051)
    with pytest.raises(ValueError, match="mono"):
        small.talking(np.zeros((2, 1000), np.int16), SR)


def test_largest_size_and_other_palette(avatar):
    big = SpriteAvatar(size=512, palette="night")
    frames = big.idle(3)
    assert frames.shape == (3, 512, 512, 3)
    x0, y0, x1, y1 = big.mouth_box
    assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512
    assert abs(frames[0].mean() - avatar.idle(1)[0].mean()) > 10, "palette changes the look"


def test_seed_changes_blinks_and_glances():
    x0, y0, x1, y1 = (round(v * 256) for v in EYE_REGION)
    eyes = [SpriteAvatar(size=256, seed=s).idle(300)[:, y0:y1, x0:x1] for s in (0, 1)]
    same = (eyes[0] == eyes[1]).all(axis=(1, 2, 3))
    assert not same.all(), "a different seed should blink or glance at other times"


def test_frame_levels_db_measures_each_frame_over_its_own_samples():
    t = np.arange(2 * SPF + SPF // 2) / SR
    pcm = (32767 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    pcm[SPF : 2 * SPF] = 0
    levels = frame_levels_db(pcm, SPF)
    assert len(levels) == 3
    assert levels[0] == pytest.approx(-3.01, abs=0.05)  # full-scale sine
    assert levels[1] < -100
    assert levels[2] == pytest.approx(-3.01, abs=0.1)  # partial frame, not diluted by padding
    assert len(frame_levels_db(np.zeros(0, np.int16), SPF)) == 0


def test_envelope_gate_saturation_and_float_input():
    env = MouthEnvelope(smoothing=0.0)
    openings = env.openings_from_db(np.array([-90.0, -60.0, -40.0, -30.0, -16.0, 0.0]))
    assert openings[0] == 0.0 and openings[1] == 0.0, "noise below the gate keeps the mouth shut"
    assert np.all(np.diff(openings[1:]) >= 0) and 0 < openings[2] < openings[3] < 1
    assert openings[-1] == pytest.approx(1.0)
    pcm = speech_like(3, seconds=2.0)
    np.testing.assert_allclose(env(pcm, SR, FPS), env(pcm / 32768.0, SR, FPS), atol=1e-9)


def test_envelope_attack_is_faster_than_release():
    env = MouthEnvelope(smoothing=0.6)
    step = np.r_[np.zeros(5), np.ones(20), np.zeros(20)]
    smoothed = env.smooth(step)
    frames_to_open = int(np.argmax(smoothed[5:] > 0.9))
    frames_to_close = int(np.argmax(smoothed[25:] < 0.1))
    assert 0 < frames_to_open < frames_to_close
    np.testing.assert_array_equal(MouthEnvelope(smoothing=0.0).smooth(step), step)


def test_envelope_option_validation():
    with pytest.raises(ValueError):
        MouthEnvelope(smoothing=-0.1)
    with pytest.raises(ValueError):
        MouthEnvelope(gate_db=-10.0, full_db=-20.0)
    with pytest.raises(ValueError):
        MouthEnvelope(knee_db=0.0)


def test_talking_chunks_render_exactly_what_one_call_renders(avatar):
    pcm = speech_like(3, seconds=2.4)
    whole = avatar.talking(pcm, SR, first_frame=17)
    sizes = [10, 15, 25, len(whole) - 50]
    chunks = list(avatar.talking_chunks(pcm, SR, sizes, first_frame=17))
    assert [len(c) for c in chunks] == sizes
    np.testing.assert_array_equal(np.concatenate(chunks), whole)
    with pytest.raises(ValueError, match="chunk sizes"):
        list(avatar.talking_chunks(pcm, SR, [10, 10], first_frame=0))
