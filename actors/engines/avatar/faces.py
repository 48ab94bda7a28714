"""MediaPipe BlazeFace (short range) face detection on the CPU: letterbox, decode, merge.

The network itself runs in ``face_model`` (LiteRT for MediaPipe's .tflite, ONNX Runtime for
an ONNX export); this module only prepares its input and decodes its 896 anchor outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from actors.engines.avatar.face_model import open_blazeface

INPUT_SIZE = 128
# (grid size, stride, anchors per cell) of the short-range model's two SSD layers.
_ANCHOR_LAYERS = ((16, 8, 2), (8, 16, 6))
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")


@dataclass(frozen=True, eq=False)
class FaceBox:
    """One detected face in image pixels: box ``x, y, w, h``, ``score`` and ``keypoints`` [6, 2].

    Keypoints are (x, y) in the order of ``KEYPOINT_NAMES`` (right/left as the person sees them).
    """

    x: float
    y: float
    w: float
    h: float
    score: float
    keypoints: np.ndarray

    def keypoint(self, name: str) -> np.ndarray:
        return self.keypoints[KEYPOINT_NAMES.index(name)]


def make_anchors() -> np.ndarray:
    """Anchor centres [896, 2] in 128-px input space, in the model's output order."""
    centres = []
    for grid, stride, per_cell in _ANCHOR_LAYERS:
        ys, xs = np.mgrid[0:grid, 0:grid]
        cell = np.stack([(xs + 0.5) * stride, (ys + 0.5) * stride], axis=-1).reshape(-1, 2)
        centres.append(np.repeat(cell, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


class BlazeFaceDetector:
    """``RGB uint8 [H, W, 3] -> list[FaceBox]`` (best first), MediaPipe's short-range model.

    The image is letterboxed (padded to a square, aspect kept) to 128x128; the model's 896
    anchor predictions are decoded, thresholded and merged by weighted non-maximum suppression.
    ``model_path`` is a ``.tflite`` (LiteRT) or ``.onnx`` (ONNX Runtime) file of the same
    network (``face_model.open_blazeface``); the decoding is the same for both.
    """

    def __init__(
        self, model_path: str | Path, *, score_threshold: float = 0.5, nms_iou: float = 0.3
    ) -> None:
        if not 0.0 < score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in (0, 1), got {score_threshold}")
        if not 0.0 < nms_iou < 1.0:
            raise ValueError(f"nms_iou must be in (0, 1), got {nms_iou}")
        model_path = Path(model_path)
        if not model_path.is_file():
            raise FileNotFoundError(f"BlazeFace model not found: {model_path}")
        self._model = open_blazeface(model_path)
        self.model_path = model_path
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self._anchors = make_anchors()

    def detect(self, image_rgb: np.ndarray) -> list[FaceBox]:
        if image_rgb.dtype != np.uint8 or image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
            raise ValueError(
                f"expected uint8 [H, W, 3] RGB, got {image_rgb.dtype} {image_rgb.shape}"
            )
        tensor, scale, pad = _letterbox(image_rgb)
        regressors, logits = self._model(tensor)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[0, :, 0].astype(np.float64), -100.0, 100.0)))
        keep = scores >= self.score_threshold
        if not keep.any():
            return []
        raw = regressors[0, keep].astype(np.float64)
        anchors = self._anchors[keep].astype(np.float64)
        centres = anchors + raw[:, 0:2]
        half = raw[:, 2:4] / 2.0
        boxes = np.concatenate([centres - half, centres + half], axis=1)  # x0 y0 x1 y1
        keypoints = raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
        faces = []
        for box, kps, score in _weighted_nms(boxes, keypoints, scores[keep], self.nms_iou):
            # Back from 128-px letterbox space to image pixels.
            box = (box.reshape(2, 2) - pad) / scale
            kps = (kps - pad) / scale
            kps.setflags(write=False)
            x0, y0 = box[0]
            w, h = box[1] - box[0]
            faces.append(FaceBox(float(x0), float(y0), float(w), float(h), float(score), kps))
        return faces


def _letterbox(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre the image in a 128x128 square; returns the tensor, per-axis scale and x/y pad."""
    h, w = image.shape[:2]
    side = max(h, w)
    rw, rh = max(1, round(w * INPUT_SIZE / side)), max(1, round(h * INPUT_SIZE / side))
    interp = cv2.INTER_AREA if side > INPUT_SIZE else cv2.INTER_LINEAR
    resized = cv2.resize(image, (rw, rh), interpolation=interp)
    pad_x, pad_y = (INPUT_SIZE - rw) // 2, (INPUT_SIZE - rh) // 2
    canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.float32)
    canvas[pad_y : pad_y + rh, pad_x : pad_x + rw] = resized
    tensor = (canvas / 127.5 - 1.0)[None]  # padding becomes -1 (black), as in MediaPipe
    return tensor, np.array([rw / w, rh / h]), np.array([pad_x, pad_y], dtype=np.float64)


def _weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou: float):
    """MediaPipe's weighted NMS: each cluster's box is the score-weighted mean of its members."""
    order = np.argsort(-scores)
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    remaining = np.ones(len(scores), dtype=bool)
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        top_left = np.maximum(boxes[i, :2], boxes[:, :2])
        bottom_right = np.minimum(boxes[i, 2:], boxes[:, 2:])
        inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
        overlap = inter / np.maximum(areas[i] + areas - inter, 1e-9)
        members = remaining & (overlap > iou)
        members[i] = True
        weights = scores[members] / scores[members].sum()
        box = (boxes[members] * weights[:, None]).sum(axis=0)
        kps = (keypoints[members] * weights[:, None, None]).sum(axis=0)
        remaining &= ~members
        yield box, kps, scores[i]
