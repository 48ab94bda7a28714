"""Feathered paste-back of a generated 96x96 face crop into the full frame.

Only the mouth / lower-face region is replaced, through a Gaussian-feathered mask that falls to
zero well inside the crop box, so the box edge can never show a seam and the eyes stay the
original's.
"""

from __future__ import annotations

import cv2
import numpy as np

CROP_SIZE = 96


def feather_mask(
    mouth_xy: tuple[float, float] = (0.5, 0.65),
    *,
    size: int = CROP_SIZE,
    radii: tuple[float, float] = (0.30, 0.25),
    feather: float = 0.04,
) -> np.ndarray:
    """Float32 [size, size] mask in 0..1: a blurred ellipse around the mouth.

    ``mouth_xy`` is the mouth centre as a fraction of the crop (x, y); ``radii`` are the
    ellipse's semi-axes and ``feather`` the Gaussian sigma, both as fractions of ``size``.
    The ellipse is kept 2.5 sigmas clear of the crop border, so the mask is < 0.01 there.
    """
    if size < 16:
        raise ValueError(f"mask size must be >= 16, got {size}")
    if not all(0.0 < r < 0.5 for r in radii) or not 0.0 < feather < 0.1:
        raise ValueError(f"radii must be in (0, 0.5) and feather in (0, 0.1): {radii}, {feather}")
    sigma = feather * size
    margin = 2.5 * sigma
    rx = min(radii[0] * size, size / 2 - margin - 1)
    ry = min(radii[1] * size, size / 2 - margin - 1)
    # Centre on the mouth, slightly below it to cover the chin, but inside the allowed area.
    cx = float(np.clip(mouth_xy[0] * size, margin + rx, size - 1 - margin - rx))
    cy = float(np.clip(mouth_xy[1] * size + 0.03 * size, margin + ry, size - 1 - margin - ry))
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    inside = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0
    mask = cv2.GaussianBlur(
        inside.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_CONSTANT
    )
    return np.clip(mask / mask.max(), 0.0, 1.0).astype(np.float32)


def mouth_window(mask: np.ndarray, *, margin: int = 1) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)``: the rows and columns of a generated crop that ``paste_mouth`` reads
    with ``mask``, those where the mask is above zero and ``margin`` more around them (a
    bilinear resize reads the two crop pixels on either side of each box pixel, and where
    both weigh zero nothing of the crop is used). The whole crop if the mask is all zero."""
    rows, cols = np.flatnonzero(mask.max(axis=1) > 0), np.flatnonzero(mask.max(axis=0) > 0)
    height, width = mask.shape
    if len(rows) == 0:
        return 0, height, 0, width
    return (max(0, int(rows[0]) - margin), min(height, int(rows[-1]) + 1 + margin),
            max(0, int(cols[0]) - margin), min(width, int(cols[-1]) + 1 + margin))  # fmt: skip


def paste_mouth(
    frame: np.ndarray,
    box: tuple[int, int, int, int],
    mouth_rgb: np.ndarray,
    mask: np.ndarray,
    *,
    match_colour: bool = True,
) -> np.ndarray:
    """Blend the generated crop into a copy of ``frame`` inside ``box`` (x0, y0, x1, y1).

    The crop and the mask are resized to the box. With ``match_colour`` the crop is shifted per
    channel so its mean colour on the mask's feathered ring equals the original's there, so a
    generator's colour cast does not show. Pixels outside the box are returned bit-identical.
    """
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be uint8 [H, W, 3], got {frame.dtype} {frame.shape}")
    if mouth_rgb.dtype != np.uint8 or mouth_rgb.ndim != 3 or mouth_rgb.shape[2] != 3:
        raise ValueError(
            f"mouth crop must be uint8 [h, w, 3], got {mouth_rgb.dtype} {mouth_rgb.shape}"
        )
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    x0, y0, x1, y1 = (int(v) for v in box)
    height, width = frame.shape[:2]
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise ValueError(f"box {box} is empty or outside the {width}x{height} frame")
    bw, bh = x1 - x0, y1 - y0
    generated = cv2.resize(mouth_rgb, (bw, bh), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    weights = cv2.resize(mask.astype(np.float32), (bw, bh), interpolation=cv2.INTER_LINEAR)
    weights = np.clip(weights, 0.0, 1.0)[..., None]
    original = frame[y0:y1, x0:x1].astype(np.float32)
    # Colour is matched on the feathered ring (weight m * (1 - m)), where the two images meet:
    # skin there should agree, while the mouth inside may rightly differ (open vs closed).
    ring = weights * (1.0 - weights)
    total = float(ring.sum())
    if match_colour and total > 0:
        generated += ((original - generated) * ring).sum(axis=(0, 1)) / total
    blended = original + weights * (generated - original)
    out = frame.copy()
    out[y0:y1, x0:x1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out
