"""The sprite avatar's drawing surface: a supersampled float canvas and its reduction.

Shapes are given in units of the frame size and drawn at ``SUPERSAMPLING`` times the
output size on a ``FaceCanvas``; ``reduce_supersampled`` averages the canvas down to output
pixels, which anti-aliases the edges.
"""

from __future__ import annotations

import cv2
import numpy as np

SUPERSAMPLING = 2  # drawn at 2x, reduced with a 2x2 box filter


def reduce_supersampled(hi: np.ndarray) -> np.ndarray:
    """Supersampled float canvas -> uint8 RGB at output size (2x2 box average)."""
    h, w = hi.shape[0] // SUPERSAMPLING, hi.shape[1] // SUPERSAMPLING
    small = cv2.resize(
        hi[: h * SUPERSAMPLING, : w * SUPERSAMPLING], (w, h), interpolation=cv2.INTER_AREA
    )
    return np.clip(small + 0.5, 0, 255).astype(np.uint8)


class FaceCanvas:
    """Float RGB surface in supersampled pixels; geometry is given in units of the frame size."""

    def __init__(self, img: np.ndarray, unit: float, margin: float, origin=(0, 0)) -> None:
        self.img, self.unit, self.margin, self.origin = img, unit, margin, origin

    def px(self, x, y) -> np.ndarray:
        """Unit coordinates -> int32 points with 4 fractional bits for cv2's ``shift``."""
        xs = self.margin + np.asarray(x, np.float64) * self.unit - self.origin[0]
        ys = self.margin + np.asarray(y, np.float64) * self.unit - self.origin[1]
        return np.rint(np.stack([xs, ys], axis=-1).reshape(-1, 2) * 16).astype(np.int32)

    def region_px(self, region, even: int) -> tuple[int, int, int, int]:
        x0, y0 = (self.px(region[0], region[1])[0] // 16 // even) * even
        x1, y1 = (-(-self.px(region[2], region[3])[0] // 16 // even)) * even
        return int(x0), int(y0), int(x1), int(y1)

    def crop(self, x0: int, y0: int, x1: int, y1: int) -> FaceCanvas:
        return FaceCanvas(self.img[y0:y1, x0:x1].copy(), self.unit, self.margin, (x0, y0))

    def _mask(self) -> np.ndarray:
        return np.zeros(self.img.shape[:2], np.uint8)

    def poly(self, xs, ys) -> np.ndarray:
        m = self._mask()
        cv2.fillPoly(m, [self.px(xs, ys)], 255, cv2.LINE_AA, 4)
        return m.astype(np.float32) / 255.0

    def ellipse(self, cx, cy, rx, ry) -> np.ndarray:
        t = np.linspace(0.0, 2.0 * np.pi, 120, endpoint=False)
        return self.poly(cx + rx * np.cos(t), cy + ry * np.sin(t))

    def stroke(self, xs, ys, width: float, closed: bool = False) -> np.ndarray:
        m = self._mask()
        thickness = max(1, round(width * self.unit))
        cv2.polylines(m, [self.px(xs, ys)], closed, 255, thickness, cv2.LINE_AA, 4)
        return m.astype(np.float32) / 255.0

    def blur(self, mask: np.ndarray, sigma: float) -> np.ndarray:
        """Gaussian blur; wide ones run on a reduced copy (same look, a fraction of the time)."""
        sigma_px = sigma * self.unit
        k = int(sigma_px // 4)
        if k < 2:
            return cv2.GaussianBlur(mask, (0, 0), sigma_px)
        h, w = mask.shape
        small = cv2.resize(mask, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), sigma_px / k)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)

    def paint(self, mask: np.ndarray, color, alpha: float = 1.0, blur: float = 0.0) -> None:
        if blur > 0:
            mask = self.blur(mask, blur)
        # Blend only inside the mask's bounding box: most shapes are small.
        rows = np.flatnonzero(mask.max(axis=1) > 1e-3)
        cols = np.flatnonzero(mask.max(axis=0) > 1e-3)
        if rows.size == 0:
            return
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        region = self.img[box]
        region += (np.asarray(color, np.float32) - region) * (mask[box] * alpha)[..., None]
