"""The offline default avatar: a procedurally drawn face, ``TTSAudio -> VideoFrames``.

Nothing is drawn per frame. At construction the face is painted once, anti-aliased
at twice the output size, and reduced to a small atlas: the static picture
(background, hair, head) at four half-pixel phases, plus small patches of the
eyes (blink x gaze) and of the mouth (opening levels) for each phase. A frame is
one slice copy of the static picture at the idle-motion offset plus two patch
pastes, so rendering costs little more than a memory copy. The same atlas is kept in I420
(``sprite_i420``), so frames can be drawn in the encoder's own format, at half the bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from actors.core.messages import samples_per_frame
from actors.core.pixels import PixFmt, frame_shape
from actors.engines.avatar.base import AvatarRenderer, array_bytes
from actors.engines.avatar.envelope import MouthEnvelope
from actors.engines.avatar.sprite_canvas import SUPERSAMPLING, FaceCanvas, reduce_supersampled
from actors.engines.avatar.sprite_face import (
    EYE_REGION,
    MOUTH_REGION,
    PALETTES,
    draw_eyes,
    draw_mouth,
    draw_static,
)
from actors.engines.avatar.sprite_i420 import I420Atlas

__all__ = ["EYE_REGION", "MOUTH_REGION", "PALETTES", "SpriteAvatar"]

_MOUTH_LEVELS = 24
_BLINK_LEVELS = 7  # eyelid closure k / 6
_BLINK_PROFILE = (3, 6, 6, 4, 2, 1)  # closure level of each frame of one blink (~240 ms)
_GAZES = ((0.0, 0.0), (0.0, 0.0), (-0.8, 0.15), (0.8, 0.15), (-0.45, -0.45), (0.5, -0.4))
_MASK64 = (1 << 64) - 1


def _mix(*values: int) -> int:
    """Deterministic 64-bit hash (splitmix64 rounds) of small integers."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (v & _MASK64)) & _MASK64
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK64
        h ^= h >> 31
    return h


class SpriteAvatar(AvatarRenderer):
    """``TTSAudio -> VideoFrames``: a drawn face whose mouth follows the speech loudness.

    Blinks, gaze shifts and the breathing bob are pure functions of the absolute
    frame index (and ``seed``), so consecutive calls join without a seam and the
    renderer keeps no clock. Frames are RGB uint8 ``[N, size, size, 3]``;
    ``mouth_box`` is ``(x0, y0, x1, y1)`` in frame pixels, holding the mouth
    wherever the idle motion moves it.
    """

    kind = "sprite"
    note = ""  # why a requested Wav2Lip avatar is not in use (set by ``make_sprite``)

    def __init__(
        self,
        *,
        size: int = 384,
        fps: int = 25,
        mouth_smoothing: float = 0.5,
        seed: int = 0,
        palette: str = "default",
    ) -> None:
        if not 256 <= size <= 512 or size % 2:
            raise ValueError(f"size must be even, in 256..512 pixels (H.264 in I420), got {size}")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if palette not in PALETTES:
            raise ValueError(f"palette must be one of {sorted(PALETTES)}, got {palette!r}")
        self.fps = fps
        self.width = self.height = size
        self.seed = seed
        self._envelope = MouthEnvelope(smoothing=mouth_smoothing)
        self._bob_px = 0.006 * size  # breathing, vertical
        self._sway_px = 0.004 * size  # slow side-to-side drift
        self._margin = math.ceil(max(self._bob_px, self._sway_px)) + 1
        self._build_atlas(size, PALETTES[palette])

    def _build_atlas(self, size: int, palette: dict) -> None:
        m = self._margin
        padded = (size + 2 * m) * SUPERSAMPLING
        base = FaceCanvas(
            np.zeros((padded, padded, 3), np.float32), size * SUPERSAMPLING, m * SUPERSAMPLING
        )
        draw_static(base, palette)
        lo = (size + 2 * m - 1) * SUPERSAMPLING  # one supersample row/col is left for the odd phase
        self._static = {
            (py, px): reduce_supersampled(base.img[py : py + lo, px : px + lo])
            for py in (0, 1)
            for px in (0, 1)
        }
        eye_states = [(k / (_BLINK_LEVELS - 1), g) for g in _GAZES for k in range(_BLINK_LEVELS)]
        self._eye_xy, self._eyes = self._patches(base, palette, EYE_REGION, eye_states, draw_eyes)
        openings = [k / (_MOUTH_LEVELS - 1) for k in range(_MOUTH_LEVELS)]
        self._mouth_xy, self._mouths = self._patches(
            base, palette, MOUTH_REGION, openings, draw_mouth
        )
        x0, y0 = self._mouth_xy
        mh, mw = self._mouths[0, 0, 0].shape[:2]
        # Offsets into the padded picture span 1 .. 2m-1 pixels (|motion| < m).
        self.mouth_box = (x0 - 2 * m + 1, y0 - 2 * m + 1, x0 + mw - 1, y0 + mh - 1)
        patches = {"eyes": (self._eye_xy, self._eyes), "mouth": (self._mouth_xy, self._mouths)}
        self._i420 = I420Atlas(self._static, patches, size)

    @staticmethod
    def _patches(base: FaceCanvas, palette: dict, region, states, draw):
        """Draw each state over ``region`` once at 2x, then reduce it at all four phases."""
        hx0, hy0, hx1, hy1 = base.region_px(region, even=SUPERSAMPLING)
        hw, hh = hx1 - hx0, hy1 - hy0
        patches = {}
        for i, state in enumerate(states):
            canvas = base.crop(hx0, hy0, hx1 + 1, hy1 + 1)
            draw(canvas, palette, state)
            for py in (0, 1):
                for px in (0, 1):
                    patches[i, py, px] = reduce_supersampled(canvas.img[py : py + hh, px : px + hw])
        return (hx0 // SUPERSAMPLING, hy0 // SUPERSAMPLING), patches

    # -- timeline: pure functions of the absolute frame index -----------------

    def _offset(self, frame: int) -> tuple[int, int]:
        """Half-pixel offsets ``(qx, qy)`` of the frame window into the padded picture."""
        t = frame / self.fps
        dy = self._bob_px * math.sin(2 * math.pi * t / 4.2)
        dx = self._sway_px * math.sin(2 * math.pi * t / 7.3 + 1.0)
        return round(2 * (self._margin - dx)), round(2 * (self._margin - dy))

    def _blink_level(self, frame: int) -> int:
        period = round(3.6 * self.fps)
        # A blink starts somewhere in each period, leaving >= 1.2 s between blinks.
        latest = period - len(_BLINK_PROFILE) - round(1.2 * self.fps)
        k = frame // period
        i = frame - (k * period + _mix(self.seed, 1, k) % max(1, latest))
        return _BLINK_PROFILE[i] if 0 <= i < len(_BLINK_PROFILE) else 0

    def _gaze(self, frame: int) -> int:
        return _mix(self.seed, 2, frame // round(2.2 * self.fps)) % len(_GAZES)

    # -- rendering -------------------------------------------------------------

    def mouth_openings(self, pcm: np.ndarray, sample_rate: int) -> np.ndarray:
        """The smoothed mouth opening (0..1) of each frame ``talking`` renders for ``pcm``."""
        if np.ndim(pcm) != 1:
            raise ValueError(f"pcm must be mono (1-D), got shape {np.shape(pcm)}")
        return self._envelope(pcm, sample_rate, self.fps)

    def talking(self, pcm: np.ndarray, sample_rate: int, *, first_frame: int = 0) -> np.ndarray:
        """``ceil(len(pcm) / (sample_rate // fps))`` frames with the mouth following ``pcm``."""
        samples_per_frame(sample_rate, self.fps)  # rejects rates that fps does not divide
        levels = np.rint(self.mouth_openings(pcm, sample_rate) * (_MOUTH_LEVELS - 1))
        return self._render(first_frame, levels.astype(np.int64))

    def talking_chunks(
        self,
        pcm: np.ndarray,
        sample_rate: int,
        sizes: list[int],
        *,
        first_frame: int = 0,
        pix_fmt: PixFmt = "rgb24",
    ) -> Iterator[np.ndarray]:
        """``talking`` rendered lazily in chunks of ``sizes`` frames (summing to its frame
        count), so the first frames can be encoded before the rest exist, in ``pix_fmt``
        (I420 is drawn from its own atlas, not converted). The mouth is smoothed over all of
        ``pcm`` first: chunks join exactly as one call would render."""
        frame_shape(pix_fmt, self.height, self.width)  # rejects an unknown format now
        samples_per_frame(sample_rate, self.fps)
        levels = np.rint(self.mouth_openings(pcm, sample_rate) * (_MOUTH_LEVELS - 1))
        levels = levels.astype(np.int64)
        if sum(sizes) != len(levels) or min(sizes, default=1) < 1:
            raise ValueError(f"chunk sizes {sizes} do not split {len(levels)} frames")
        at = 0
        for size in sizes:
            yield self._render(first_frame + at, levels[at : at + size], pix_fmt)
            at += size

    def idle(self, n_frames: int, *, first_frame: int = 0) -> np.ndarray:
        """``n_frames`` frames at rest: mouth closed, breathing, blinking, glancing around."""
        if n_frames < 0:
            raise ValueError(f"n_frames must be >= 0, got {n_frames}")
        return self._render(first_frame, np.zeros(n_frames, np.int64))

    @property
    def nbytes(self) -> int:
        return array_bytes(vars(self)) + self._i420.nbytes

    def _render(
        self, first_frame: int, mouth_levels: np.ndarray, pix_fmt: PixFmt = "rgb24"
    ) -> np.ndarray:
        size = self.width
        out = np.empty((len(mouth_levels), *frame_shape(pix_fmt, size, size)), np.uint8)
        (ex0, ey0), (mx0, my0) = self._eye_xy, self._mouth_xy
        for i, level in enumerate(mouth_levels.tolist()):
            frame = first_frame + i
            qx, qy = self._offset(frame)
            (ix, px), (iy, py) = divmod(qx, 2), divmod(qy, 2)
            eye_state = self._gaze(frame) * _BLINK_LEVELS + self._blink_level(frame)
            if pix_fmt == "yuv420p":
                self._i420.frame(out[i], ix, iy, px, py, {"eyes": eye_state, "mouth": level})
                continue
            out[i] = self._static[py, px][iy : iy + size, ix : ix + size]
            eyes = self._eyes[eye_state, py, px]
            ex, ey = ex0 - ix, ey0 - iy
            out[i, ey : ey + eyes.shape[0], ex : ex + eyes.shape[1]] = eyes
            mouth = self._mouths[level, py, px]
            mx, my = mx0 - ix, my0 - iy
            out[i, my : my + mouth.shape[0], mx : mx + mouth.shape[1]] = mouth
        return out
