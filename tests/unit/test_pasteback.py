"""Feathered paste-back on the astronaut portrait with its prepared crop box and mask."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from actors.engines.avatar.pasteback import feather_mask, mouth_window, paste_mouth
from actors.engines.avatar.prepare import AvatarPack

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def pack(astro_pack) -> AvatarPack:
    return astro_pack[1]


@pytest.fixture(scope="module")
def scene(pack):
    """(frame, box, original crop, mask, mask resized to the box)."""
    frame, box, crop = pack.frames[0], tuple(int(v) for v in pack.boxes[0]), pack.crops[0]
    x0, y0, x1, y1 = box
    return frame, box, crop, pack.mask, cv2.resize(pack.mask, (x1 - x0, y1 - y0))


def open_mouth(crop: np.ndarray, mouth_xy) -> np.ndarray:
    """The crop with a dark open mouth drawn in: what a lip-sync model would change."""
    out = crop.copy()
    centre = (int(mouth_xy[0] * 96), int(mouth_xy[1] * 96) + 2)
    cv2.ellipse(out, centre, (14, 9), 0, 0, 360, (60, 20, 25), -1)
    return out


def gradient(image: np.ndarray) -> np.ndarray:
    """Largest absolute step to the right or downward neighbour, over channels."""
    image = image.astype(np.float32)
    grad = np.zeros(image.shape[:2], np.float32)
    grad[:, :-1] = np.abs(np.diff(image, axis=1)).max(axis=-1)
    grad[:-1] = np.maximum(grad[:-1], np.abs(np.diff(image, axis=0)).max(axis=-1))
    return grad


def inside(image: np.ndarray, box) -> np.ndarray:
    x0, y0, x1, y1 = box
    return image[y0:y1, x0:x1]


def test_pixels_outside_the_box_are_bit_identical(scene, pack):
    frame, box, crop, mask, _ = scene
    out = paste_mouth(frame, box, open_mouth(crop, pack.meta["mouth_xy"]), mask)
    x0, y0, x1, y1 = box
    outside = np.ones(frame.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert out.dtype == np.uint8 and out.shape == frame.shape
    np.testing.assert_array_equal(out[outside], frame[outside])
    assert out is not frame and not np.shares_memory(out, frame)


def test_the_original_crop_pastes_back_almost_unchanged(scene):
    frame, box, crop, mask, _ = scene
    out = paste_mouth(frame, box, crop, mask)
    diff = np.abs(inside(out, box).astype(int) - inside(frame, box))
    assert diff.mean() < 2.0


def test_a_new_mouth_changes_the_mouth_and_nothing_where_the_mask_is_zero(scene, pack):
    frame, box, crop, mask, box_mask = scene
    out = paste_mouth(frame, box, open_mouth(crop, pack.meta["mouth_xy"]), mask)
    diff = np.abs(inside(out, box).astype(int) - inside(frame, box)).max(axis=-1)
    assert diff[box_mask > 0.9].mean() > 20  # the mouth area did change
    np.testing.assert_array_equal(diff[box_mask == 0], 0)


def test_the_mask_border_shows_no_seam(scene):
    """Honest seam measure: in the mask's transition band the pasted image's steep steps.

    A seam is a step along the band that natural texture does not have, so the 99th percentile
    of the local gradient in the band must not exceed the original's in the same band. A hard
    (unfeathered) paste of the same crop must fail this, or the measure proves nothing.
    """
    frame, box, crop, mask, box_mask = scene
    darker = (crop * 0.3).astype(np.uint8)  # strong contrast across the border, no colour fix
    band = (box_mask > 0.02) & (box_mask < 0.98)
    assert band.sum() > 500
    natural = np.percentile(gradient(inside(frame, box))[band], 99)

    feathered = paste_mouth(frame, box, darker, mask, match_colour=False)
    hard = paste_mouth(frame, box, darker, (mask > 0.5).astype(np.float32), match_colour=False)
    assert np.percentile(gradient(inside(feathered, box))[band], 99) <= natural
    assert np.percentile(gradient(inside(hard, box))[band], 99) > natural * 1.5
    # On the box's own edge rows and columns the paste leaves the original (within a level).
    edge = np.ones(box_mask.shape, bool)
    edge[1:-1, 1:-1] = False
    change = np.abs(inside(feathered, box).astype(int) - inside(frame, box)).max(axis=-1)
    assert change[edge].max() <= 1


def test_colours_stay_consistent_with_the_original(scene):
    frame, box, crop, mask, _ = scene
    cast = np.clip(crop * np.array([0.6, 0.7, 1.1]), 0, 255).astype(np.uint8)  # a colour cast
    original_mean = inside(frame, box).reshape(-1, 3).mean(axis=0)
    matched = paste_mouth(frame, box, cast, mask)
    unmatched = paste_mouth(frame, box, cast, mask, match_colour=False)
    np.testing.assert_allclose(
        inside(matched, box).reshape(-1, 3).mean(axis=0), original_mean, atol=3
    )
    assert np.abs(inside(unmatched, box).reshape(-1, 3).mean(axis=0) - original_mean).max() > 10


def test_a_mask_at_box_size_works_like_the_96px_one(scene, pack):
    frame, box, crop, mask, box_mask = scene
    mouth = open_mouth(crop, pack.meta["mouth_xy"])
    a = paste_mouth(frame, box, mouth, mask).astype(int)
    b = paste_mouth(frame, box, mouth, box_mask).astype(int)
    assert np.abs(a - b).max() <= 1


def test_feather_mask_shape_and_limits():
    mask = feather_mask((0.45, 0.62))
    assert mask.shape == (96, 96) and mask.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() == pytest.approx(1.0)
    assert mask[int(0.62 * 96), int(0.45 * 96)] > 0.95
    border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    assert border.max() < 0.01
    # A mouth at the very edge is pulled inward so the feather still fits in the crop.
    edge = feather_mask((0.99, 0.99))
    assert np.concatenate([edge[-1], edge[:, -1]]).max() < 0.01
    with pytest.raises(ValueError):
        feather_mask(radii=(0.7, 0.2))


def test_bad_arguments_are_refused(scene):
    frame, box, crop, mask, _ = scene
    with pytest.raises(ValueError, match="outside"):
        paste_mouth(frame, (400, 400, 600, 600), crop, mask)
    with pytest.raises(ValueError, match="outside"):
        paste_mouth(frame, (200, 200, 200, 260), crop, mask)
    with pytest.raises(ValueError, match="uint8"):
        paste_mouth(frame.astype(np.float32), box, crop, mask)
    with pytest.raises(ValueError, match="2-D"):
        paste_mouth(frame, box, crop, mask[..., None])


@pytest.mark.parametrize("mouth_xy", [(0.5, 0.65), (0.35, 0.5), (0.6, 0.7)])
def test_only_the_mouth_window_of_a_generated_crop_is_read(scene, mouth_xy):
    """Zeroing the crop outside ``mouth_window`` pastes the very same frame: a model need not
    compute the rest (``models.output_window``)."""
    frame, box, *_ = scene
    mask = feather_mask(mouth_xy)
    y0, y1, x0, x1 = mouth_window(mask)
    assert (y1 - y0) * (x1 - x0) < 96 * 96  # something is left out
    generated = np.random.default_rng(3).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    windowed = np.zeros_like(generated)
    windowed[y0:y1, x0:x1] = generated[y0:y1, x0:x1]
    for match_colour in (True, False):
        full = paste_mouth(frame, box, generated, mask, match_colour=match_colour)
        part = paste_mouth(frame, box, windowed, mask, match_colour=match_colour)
        assert np.array_equal(full, part)
    # One row less at the top is read: the window is no wider than it must be.
    narrower = windowed.copy()
    narrower[y0] = 0
    assert not np.array_equal(paste_mouth(frame, box, narrower, mask), full)


def test_a_mask_without_a_mouth_reads_the_whole_crop():
    assert mouth_window(np.zeros((96, 96), np.float32)) == (0, 96, 0, 96)
    corner = np.zeros((96, 96), np.float32)
    corner[0, 95] = 1.0
    assert mouth_window(corner) == (0, 2, 94, 96)
