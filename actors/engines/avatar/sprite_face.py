"""Drawing the sprite avatar's face: palettes and the face parts.

``draw_static`` paints what never changes; ``draw_eyes`` and ``draw_mouth`` paint
one state of the parts that move, over the regions ``EYE_REGION`` and
``MOUTH_REGION``. Everything is drawn on a supersampled ``FaceCanvas``
(``actors.engines.avatar.sprite_canvas``) and reduced from it afterwards (anti-aliasing).
"""

from __future__ import annotations

import numpy as np

from actors.engines.avatar.sprite_canvas import FaceCanvas

# Regions (x0, y0, x1, y1) in units of the frame size that the per-frame parts change.
EYE_REGION = (0.33, 0.415, 0.67, 0.51)
MOUTH_REGION = (0.42, 0.585, 0.58, 0.725)

PALETTES: dict[str, dict[str, tuple[int, int, int]]] = {
    "default": {
        "bg_top": (222, 228, 250),
        "bg_bottom": (160, 196, 236),
        "glow": (255, 246, 236),
        "hair": (84, 52, 40),
        "hair_shine": (150, 104, 82),
        "skin": (250, 212, 186),
        "skin_shade": (226, 170, 146),
        "blush": (244, 140, 150),
        "shirt": (70, 116, 196),
        "shirt_trim": (238, 242, 250),
        "iris": (64, 128, 104),
        "iris_dark": (30, 70, 60),
        "ink": (46, 30, 30),
        "lips": (216, 112, 120),
        "mouth": (92, 28, 40),
        "tongue": (226, 112, 122),
        "teeth": (250, 248, 242),
        "sclera": (252, 252, 250),
    },
}
PALETTES["night"] = {
    **PALETTES["default"],
    "bg_top": (46, 52, 92),
    "bg_bottom": (96, 74, 128),
    "glow": (150, 130, 200),
    "hair": (36, 34, 44),
    "hair_shine": (96, 96, 120),
    "shirt": (196, 90, 104),
    "iris": (92, 112, 176),
    "iris_dark": (40, 50, 96),
}


def _curve(t: np.ndarray, power: float) -> np.ndarray:
    """``(1 - t^2)^power``: an arc that is 1 in the middle and 0 at ``t = +-1``."""
    return np.power(np.clip(1.0 - t * t, 0.0, 1.0), power)


def draw_static(c: FaceCanvas, p: dict) -> None:
    """Everything that never changes: background, hair, body, head, brows, nose, cheeks."""
    h = c.img.shape[0]
    fall = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    c.img[:] = np.float32(p["bg_top"]) * (1 - fall) + np.float32(p["bg_bottom"]) * fall
    c.paint(c.ellipse(0.5, 0.44, 0.40, 0.40), p["glow"], 0.6, blur=0.10)
    for x, y, r, a in (
        (0.12, 0.16, 0.05, 0.3),
        (0.86, 0.22, 0.07, 0.22),
        (0.13, 0.74, 0.06, 0.2),
        (0.88, 0.70, 0.04, 0.25),
        (0.74, 0.07, 0.03, 0.3),
    ):  # soft bokeh
        c.paint(c.ellipse(x, y, r, r), (255, 255, 255), a, blur=0.012)
    t = np.linspace(0.0, 2.0 * np.pi, 160, endpoint=False)
    lower = np.sin(t) > 0
    sx = np.sign(np.cos(t)) * np.abs(np.cos(t)) ** np.where(lower, 0.55, 1.0)
    sy = np.sign(np.sin(t)) * np.abs(np.sin(t)) ** np.where(lower, 0.7, 1.0)
    c.paint(c.poly(0.5 + 0.305 * sx, 0.45 + np.where(lower, 0.27, 0.30) * sy), p["hair"])
    c.paint(c.ellipse(0.5, 1.04, 0.46, 0.25), p["shirt"])
    neck = np.maximum(
        c.poly([0.445, 0.555, 0.56, 0.44], [0.6, 0.6, 0.81, 0.81]),
        c.ellipse(0.5, 0.81, 0.07, 0.045),
    )
    c.paint(neck, p["skin_shade"])
    c.paint(
        c.stroke(0.5 + 0.077 * np.cos(t[lower]), 0.81 + 0.052 * np.sin(t[lower]), 0.014),
        p["shirt_trim"],
        0.9,
    )
    c.paint(c.ellipse(0.5, 0.70, 0.09, 0.05) * neck, p["ink"], 0.18, blur=0.015)  # chin shadow
    face_x = 0.5 + 0.222 * np.cos(t) * np.where(lower, 1.0 - 0.22 * np.sin(t) ** 2, 1.0)
    face_y = 0.48 + np.where(lower, 0.265, 0.27) * np.sin(t)
    face = c.poly(face_x, face_y)
    c.paint(face, p["skin"])
    rim = face * np.clip(1.0 - c.blur(face, 0.035), 0, 1)
    c.paint(rim, p["skin_shade"], 0.55)
    # Fringe and side locks: the front hair ellipse minus a tilted window for the face.
    window = c.poly(
        0.51 + 0.215 * np.cos(t) - 0.02 * np.sin(t) ** 2, 0.58 + 0.27 * np.sin(t) + 0.02 * np.cos(t)
    )
    front = c.ellipse(0.5, 0.41, 0.26, 0.235) * (1.0 - window)
    c.paint(front, p["ink"], 0.25, blur=0.012)  # shadow the hair casts on the forehead
    c.paint(front, p["hair"])
    for x0, bend in ((0.43, -0.05), (0.55, 0.03), (0.64, 0.06)):  # a few strands in the fringe
        ts = np.linspace(0.0, 1.0, 16)
        c.paint(
            front * c.stroke(x0 + bend * ts - 0.02 * ts**2, 0.2 + 0.13 * ts, 0.006),
            p["ink"],
            0.22,
            blur=0.002,
        )
    arc = np.linspace(3.55, 4.35, 24)
    c.paint(
        c.stroke(0.5 + 0.21 * np.cos(arc), 0.44 + 0.22 * np.sin(arc), 0.022),
        p["hair_shine"],
        0.55,
        blur=0.006,
    )
    tb = np.linspace(0.0, 1.0, 24)
    for s in (-1, 1):
        c.paint(
            c.stroke(
                0.5 + s * (0.055 + 0.075 * tb),
                0.39 - 0.016 * np.sin(np.pi * tb) + 0.006 * tb,
                0.011,
            ),
            p["hair"],
            0.95,
        )
        c.paint(c.ellipse(0.5 + s * 0.142, 0.578, 0.042, 0.026), p["blush"], 0.4, blur=0.014)
    nose = np.linspace(0.25 * np.pi, 0.75 * np.pi, 16)
    c.paint(
        c.stroke(0.5 + 0.02 * np.cos(nose), 0.548 + 0.009 * np.sin(nose), 0.006),
        p["skin_shade"],
        0.9,
    )
    c.paint(c.ellipse(0.497, 0.535, 0.008, 0.011), (255, 255, 255), 0.3, blur=0.005)


def draw_eyes(c: FaceCanvas, p: dict, state) -> None:
    """Both eyes; ``state = (closure 0..1, (gaze_x, gaze_y) in -1..1)``."""
    closure, (gx, gy) = state
    skin_under = c.img.copy()  # the lid takes the colour of the face around the eye
    t = np.linspace(-1.0, 1.0, 41)
    for s in (-1, 1):
        ex, ey = 0.5 + s * 0.092, 0.468
        x = ex + 0.046 * t
        lift = 0.006 * (s * t + 1.0) / 2.0  # outer corner sits a little higher
        top = ey - 0.035 * _curve(t, 0.6) - lift
        bottom = ey + 0.024 * _curve(t, 0.8) - lift
        eye = c.poly(np.r_[x, x[::-1]], np.r_[top, bottom[::-1]])
        c.paint(eye, p["sclera"])
        ix, iy = ex + gx * 0.013, ey + gy * 0.008
        c.paint(c.ellipse(ix, iy, 0.025, 0.025) * eye, p["iris_dark"])
        c.paint(c.ellipse(ix, iy + 0.002, 0.02, 0.02) * eye, p["iris"], blur=0.002)
        c.paint(c.ellipse(ix, iy, 0.011, 0.011) * eye, p["ink"])
        c.paint(c.ellipse(ix - 0.008, iy - 0.009, 0.0065, 0.0065) * eye, (255, 255, 255), 0.95)
        c.paint(c.ellipse(ix + 0.008, iy + 0.007, 0.003, 0.003) * eye, (255, 255, 255), 0.8)
        c.paint(eye * c.poly(np.r_[x, x[::-1]], np.r_[top, top[::-1] + 0.012]), p["ink"], 0.12)
        lid = top + closure * (bottom - top)
        if closure > 0:
            lid_mask = c.poly(np.r_[x, x[::-1]], np.r_[top - 0.006, lid[::-1]])[..., None]
            c.img += (skin_under - c.img) * lid_mask
            c.paint(lid_mask[..., 0] * eye, p["skin_shade"], 0.2)
        wing_x = np.r_[x, x[-1] + 0.012] if s > 0 else np.r_[x[0] - 0.012, x]
        wing_y = np.r_[lid, lid[-1] - 0.008] if s > 0 else np.r_[lid[0] - 0.008, lid]
        c.paint(c.stroke(wing_x, wing_y, 0.0075), p["ink"])
        c.paint(c.stroke(x[6:-6], bottom[6:-6] + 0.002, 0.003), p["ink"], 0.25 * (1 - closure))


def draw_mouth(c: FaceCanvas, p: dict, opening: float) -> None:
    """The mouth at ``opening`` 0 (closed smile) .. 1 (wide open, teeth and tongue)."""
    t = np.linspace(-1.0, 1.0, 49)
    half_width = 0.048 * (1.0 + 0.14 * opening)
    x = 0.5 + half_width * t
    center = 0.645 - 0.011 * t * t  # corners up: a gentle smile
    gap = 0.07 * opening
    top = center - 0.3 * gap * _curve(t, 0.5)
    bottom = center + 0.7 * gap * _curve(t, 0.5)
    upper_lip = top - 0.009 * _curve(t, 0.6) * (1.0 - 0.5 * np.exp(-((t / 0.18) ** 2)))
    lower_lip = bottom + 0.015 * _curve(t, 0.7)
    c.paint(c.poly(np.r_[x, x[::-1]], np.r_[upper_lip, lower_lip[::-1]]), p["lips"], 0.55, 0.002)
    inner_x, inner_y = np.r_[x, x[::-1]], np.r_[top, bottom[::-1]]
    if gap * c.unit > 0.5:  # below half a pixel there is nothing to see inside
        inner = c.poly(inner_x, inner_y)
        c.paint(inner, p["mouth"])
        teeth = min(0.012, 0.35 * gap)
        c.paint(
            inner * c.poly(np.r_[x, x[::-1]], np.r_[top - 0.01, (top + teeth)[::-1]]), p["teeth"]
        )
        tongue_y = center[24] + 0.7 * gap
        c.paint(inner * c.ellipse(0.5, tongue_y, half_width * 0.62, 0.45 * gap), p["tongue"])
    c.paint(c.stroke(inner_x, inner_y, 0.0055, closed=True), p["mouth"], 0.9)
    for s in (-1, 1):  # dimples at the corners
        cx, cy = 0.5 + s * (half_width + 0.004), 0.634
        c.paint(
            c.stroke([cx - s * 0.004, cx, cx - s * 0.002], [cy - 0.005, cy, cy + 0.006], 0.0035),
            p["skin_shade"],
            0.8,
        )
