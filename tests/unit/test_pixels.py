"""Frames in I420: the conversion, the sprite's I420 atlas, and the encoder taking either format."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from actors.core.pixels import frame_shape, rgb_to_yuv420p, yuv420p_to_rgb
from actors.engines.avatar.sprite import PALETTES, SpriteAvatar
from actors.engines.avatar.sprite_i420 import I420Atlas
from actors.media.encoder import FragmentedMP4Encoder
from actors.media.fragments import fragment_sizes
from tests.unit.test_media import gradient_frames, sine

pytestmark = pytest.mark.unit

RATE = 24000


def _speech(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(RATE * seconds)
    loudness = np.clip(np.sin(np.arange(n) / RATE * 2 * np.pi * 1.5), 0, None)  # then silent
    return (rng.standard_normal(n) * 9000 * loudness).astype(np.int16)


def test_frame_shapes_and_what_is_refused():
    assert frame_shape("rgb24", 6, 4) == (6, 4, 3)
    assert frame_shape("yuv420p", 6, 4) == (9, 4)
    with pytest.raises(ValueError, match="even"):
        frame_shape("yuv420p", 5, 4)
    with pytest.raises(ValueError, match="pix_fmt must be one of"):
        frame_shape("nv12", 6, 4)


def test_conversion_is_opencvs_frame_by_frame_and_goes_back_closely():
    frames = gradient_frames(0, 3)
    yuv = rgb_to_yuv420p(frames)
    assert yuv.shape == (3, 192, 128) and yuv.dtype == np.uint8
    for rgb, one in zip(frames, yuv, strict=True):
        assert np.array_equal(one, cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420))
        assert np.array_equal(rgb_to_yuv420p(rgb), one)  # one frame without N
    back = yuv420p_to_rgb(yuv)
    assert back.shape == frames.shape
    # Chroma at half resolution blurs the sliding gradient's colour edges only a little.
    assert np.abs(back.astype(int) - frames).mean() < 6


def test_chroma_of_a_block_depends_on_that_block_alone():
    """What the sprite's atlas rests on: converting a crop at even coordinates equals
    cropping the converted picture."""
    picture = np.random.default_rng(3).integers(0, 256, (64, 48, 3), np.uint8)
    whole = rgb_to_yuv420p(picture)
    part = rgb_to_yuv420p(picture[10:40, 6:30])
    assert np.array_equal(part[:30], whole[:64][10:40, 6:30])
    u_whole, v_whole = whole[64:].reshape(2, 32, 24)
    u_part, v_part = part[30:].reshape(2, 15, 12)
    assert np.array_equal(u_part, u_whole[5:20, 3:15])
    assert np.array_equal(v_part, v_whole[5:20, 3:15])


@pytest.mark.parametrize(("size", "palette"), [(384, p) for p in PALETTES] + [(256, "default")])
def test_sprite_i420_frames_are_the_conversion_of_its_rgb_frames(size, palette):
    avatar = SpriteAvatar(size=size, palette=palette, seed=5)
    pcm = _speech(8.0, seed=size)
    sizes = fragment_sizes(200, first_sentence=True)
    phases = set()
    for first in (0, 90):
        rgb = avatar.talking_chunks(pcm, RATE, sizes, first_frame=first)
        yuv = avatar.talking_chunks(pcm, RATE, sizes, first_frame=first, pix_fmt="yuv420p")
        for a, b in zip(rgb, yuv, strict=True):
            assert b.shape == (len(a), *frame_shape("yuv420p", size, size))
            assert np.array_equal(rgb_to_yuv420p(a), b)  # byte for byte
        for frame in range(first, first + 200):
            qx, qy = avatar._offset(frame)
            phases.add((qx % 4, qy % 4))  # half-pixel phase and crop parity on each axis
    # The timeline crossed every phase and parity the atlas keeps, so all were compared.
    assert len(phases) == 16, phases
    levels = avatar.mouth_openings(pcm, RATE)
    assert levels.min() < 0.02 and levels.max() > 0.9  # closed and wide open mouths were drawn


def test_sprite_refuses_an_odd_size_and_an_unknown_format():
    with pytest.raises(ValueError, match="even"):
        SpriteAvatar(size=301)
    avatar = SpriteAvatar(size=256)
    with pytest.raises(ValueError, match="pix_fmt"):
        next(avatar.talking_chunks(_speech(0.2), RATE, [5], pix_fmt="nv12"))


def test_the_atlas_refuses_patches_whose_blocks_meet():
    static = {(py, px): np.zeros((41, 41, 3), np.uint8) for py in (0, 1) for px in (0, 1)}
    patch = {(0, py, px): np.full((5, 5, 3), 200, np.uint8) for py in (0, 1) for px in (0, 1)}
    apart = {"a": ((4, 4), patch), "b": ((20, 4), patch)}
    assert I420Atlas(static, apart, 32).nbytes > 0
    touching = {"a": ((4, 4), patch), "b": ((10, 4), patch)}  # 1 px gap: shared 2x2 blocks
    with pytest.raises(ValueError, match="too close"):
        I420Atlas(static, touching, 32)


def test_the_encoder_makes_the_same_stream_from_either_format():
    def stream(convert: bool) -> list[bytes]:
        encoder = FragmentedMP4Encoder(width=128, height=128)
        chunks = [encoder.start()]
        for first, n in ((0, 10), (10, 15)):
            frames = gradient_frames(first, n)
            frames = rgb_to_yuv420p(frames) if convert else frames
            chunks += encoder.encode(frames, sine(first * 960, n * 960))
        return [c.data for c in chunks + encoder.close()]

    assert stream(convert=True) == stream(convert=False)


def test_the_encoder_names_both_shapes_when_it_refuses_one():
    encoder = FragmentedMP4Encoder(width=128, height=128)
    encoder.start()
    with pytest.raises(ValueError, match=r"\[N, 128, 128, 3\] \(RGB\) or \[N, 192, 128\] \(I420\)"):
        encoder.encode(np.zeros((2, 190, 128), np.uint8), sine(0, 2 * 960))
    encoder.close()
