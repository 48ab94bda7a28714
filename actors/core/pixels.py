"""The two pixel formats frames travel in, named as FFmpeg names them.

``rgb24``: ``[N, H, W, 3]`` uint8, what renderers draw and tests look at.
``yuv420p``: ``[N, H * 3 // 2, W]`` uint8, planar I420 (the Y plane, then U and V at half
size, each stored as ``H // 4`` rows of ``W``): what H.264 encodes, at half the bytes of RGB.
Frames a session encodes arrive from the Avatar replica in ``yuv420p``: streaming them through
the object store costs the replica about a quarter of what RGB does (``docs/benchmarks.md``),
and the encoder then has nothing to convert.

Colours are BT.601, limited range, OpenCV's conversion: the one the encoder tags its stream
with. Its chroma of each 2x2 block depends on that block alone, so a crop at even
coordinates of a converted picture equals the conversion of the crop (``SpriteAvatar`` builds
its I420 atlas on that).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["PIX_FMTS", "PixFmt", "frame_shape", "rgb_to_yuv420p", "yuv420p_to_rgb"]

PixFmt = Literal["rgb24", "yuv420p"]
PIX_FMTS: tuple[PixFmt, ...] = ("rgb24", "yuv420p")


def frame_shape(pix_fmt: str, height: int, width: int) -> tuple[int, ...]:
    """The shape of one frame of ``height`` x ``width`` pixels in ``pix_fmt``."""
    if pix_fmt == "rgb24":
        return (height, width, 3)
    if pix_fmt == "yuv420p":
        if height % 2 or width % 2:
            raise ValueError(f"yuv420p needs an even width and height, got {width}x{height}")
        return (height * 3 // 2, width)
    raise ValueError(f"pix_fmt must be one of {PIX_FMTS}, got {pix_fmt!r}")


def rgb_to_yuv420p(frames: np.ndarray) -> np.ndarray:
    """RGB ``[N, H, W, 3]`` (or one ``[H, W, 3]``) uint8 -> I420 ``[N, 3H/2, W]`` (or one)."""
    import cv2  # here, not at the top: actors.core imports NumPy only

    if frames.ndim == 3:
        return cv2.cvtColor(np.ascontiguousarray(frames), cv2.COLOR_RGB2YUV_I420)
    n, h, w, _ = frames.shape
    out = np.empty((n, *frame_shape("yuv420p", h, w)), np.uint8)
    for i, rgb in enumerate(frames):
        cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420, dst=out[i])
    return out


def yuv420p_to_rgb(frames: np.ndarray) -> np.ndarray:
    """I420 ``[N, 3H/2, W]`` (or one ``[3H/2, W]``) uint8 -> RGB ``[N, H, W, 3]``."""
    import cv2

    if frames.ndim == 2:
        return cv2.cvtColor(frames, cv2.COLOR_YUV2RGB_I420)
    return np.stack([cv2.cvtColor(f, cv2.COLOR_YUV2RGB_I420) for f in frames])
