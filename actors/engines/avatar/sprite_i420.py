"""The sprite's atlas in I420 (``yuv420p``): frames drawn as the encoder takes them.

A sprite frame is a crop of the static picture at an idle-motion offset with two patches
(eyes, mouth) pasted at fixed places of that picture. In I420 the chroma planes are at half
size, so a crop or paste at an odd pixel would split 2x2 chroma blocks. The atlas therefore
keeps, for each half-pixel phase, the static picture converted at both parities of each axis
(shifted by 0 or 1 pixel), and each patch converted together with the static pixels around it
out to even block edges. A frame is then three plane crops and two block pastes, and equals
``rgb_to_yuv420p`` of the RGB frame byte for byte (the conversion of each 2x2 block depends on
that block alone; ``actors.core.pixels``).
"""

from __future__ import annotations

import numpy as np

from actors.core.pixels import rgb_to_yuv420p

__all__ = ["I420Atlas"]

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]  # Y [h, w], U and V [h/2, w/2]


def _planes(rgb: np.ndarray) -> Planes:
    h, w = rgb.shape[:2]
    yuv = rgb_to_yuv420p(rgb)
    u, v = yuv[h:].reshape(2, h // 2, w // 2)
    return yuv[:h], u, v


def _even_box(y: int, x: int, h: int, w: int) -> tuple[int, int, int, int]:
    """The smallest box on even coordinates around ``h`` x ``w`` pixels at ``(y, x)``."""
    y0, x0 = y - y % 2, x - x % 2
    return y0, x0, y + h + (y + h) % 2, x + w + (x + w) % 2


class I420Atlas:
    """``SpriteAvatar``'s RGB atlas converted once, to paste I420 frames from.

    ``static[py, px]`` are the phases of the padded static picture; ``patches`` maps a name
    to ``((x, y), {(state, py, px): rgb patch})``, each pasted at ``(x, y)`` of that picture,
    later ones over earlier ones (their even boxes must not meet: the last paste would win
    where in RGB both show). ``size`` is the frame's side.
    """

    def __init__(self, static: dict, patches: dict, size: int) -> None:
        self.size = size
        self._static: dict[tuple[int, int, int, int], Planes] = {}
        for (py, px), picture in static.items():
            for by in (0, 1):
                for bx in (0, 1):
                    part = picture[by:, bx:]
                    h, w = part.shape[0] // 2 * 2, part.shape[1] // 2 * 2
                    self._static[py, px, by, bx] = _planes(part[:h, :w])
        self._patches: dict[str, dict[tuple[int, int, int, int, int], tuple]] = {}
        boxes = []
        for name, ((x, y), states) in patches.items():
            converted = {}
            for (state, py, px), patch in states.items():
                ph, pw = patch.shape[:2]
                for by in (0, 1):
                    for bx in (0, 1):
                        y0, x0, y1, x1 = _even_box(y - by, x - bx, ph, pw)
                        region = static[py, px][by + y0 : by + y1, bx + x0 : bx + x1].copy()
                        oy, ox = y - by - y0, x - bx - x0
                        region[oy : oy + ph, ox : ox + pw] = patch
                        converted[state, py, px, by, bx] = (y0, x0, _planes(region))
            self._patches[name] = converted
            ph, pw = next(iter(states.values())).shape[:2]
            boxes.append(_even_box(y - 1, x - 1, ph + 2, pw + 2))
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    raise ValueError("the sprite's patches are too close for an I420 atlas")

    def frame(self, out: np.ndarray, ix: int, iy: int, px: int, py: int, states: dict) -> None:
        """Draw into ``out`` (``[3 * size / 2, size]``) the frame cropped at ``(ix, iy)`` of
        phase ``(px, py)``, with ``states[name]`` the state of each patch."""
        s, by, bx = self.size, iy % 2, ix % 2
        oy, ox = iy - by, ix - bx  # where the crop starts in the shifted picture: even
        y_out = out[:s]
        u_out, v_out = out[s:].reshape(2, s // 2, s // 2)
        planes = zip((y_out, u_out, v_out), self._static[py, px, by, bx], (1, 2, 2), strict=True)
        for dst, src, k in planes:
            dst[:] = src[oy // k : (oy + s) // k, ox // k : (ox + s) // k]
        for name, converted in self._patches.items():
            y0, x0, patch = converted[states[name], py, px, by, bx]
            for dst, src, k in zip((y_out, u_out, v_out), patch, (1, 2, 2), strict=True):
                fy, fx = (y0 - oy) // k, (x0 - ox) // k
                dst[fy : fy + src.shape[0], fx : fx + src.shape[1]] = src

    @property
    def nbytes(self) -> int:
        planes = [p for planes in self._static.values() for p in planes]
        for converted in self._patches.values():
            planes += [p for _, _, planes in converted.values() for p in planes]
        return sum(p.nbytes for p in planes)
