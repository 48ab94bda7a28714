"""Avatar preparation: a photo or short looping video -> an ``AvatarPack`` on disk.

Faces are detected once here, never per output frame. The pack format, saving and
loading live in ``actors.engines.avatar.pack`` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from actors.engines.avatar import faces
from actors.engines.avatar.pack import PACK_VERSION, AvatarPack, validate_name
from actors.engines.avatar.pasteback import CROP_SIZE, feather_mask
from models.registry import model_path as registry_path
from models.registry import sha256_file

__all__ = [
    "PACK_VERSION",
    "AvatarPack",
    "NoFaceFoundError",
    "UnreadableInputError",
    "prepare_avatar",
    "validate_name",
]

DETECTOR = "face_detection_short_range"  # its registry name: the file is the registry's
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
VIDEO_SUFFIXES = {".mp4", ".webm", ".mov"}


class NoFaceFoundError(ValueError):
    """No face was detected in the input (or in one frame of a video)."""


class UnreadableInputError(ValueError):
    """The input file exists but cannot be decoded as an image or video."""


def prepare_avatar(
    input_path: str | Path,
    *,
    name: str,
    avatars_dir: str | Path,
    models_dir: str | Path,
    max_frames: int = 250,
    max_side: int = 1024,
    smooth_window: int = 5,
    pad_bottom: float = 0.1,
    detector_factory: Callable[[Path], faces.BlazeFaceDetector] | None = None,
) -> AvatarPack:
    """Detect, smooth, crop and save; returns the saved pack.

    ``pad_bottom`` extends the face box downwards by that fraction of its height (Wav2Lip's
    crop pads the bottom so the chin is inside). Inputs larger than ``max_side`` on their long
    side are downscaled; the factor is kept in ``meta["scale"]``. Faces are found by the
    registry's face detector file in ``models_dir`` (``face_detection_short_range.tflite``),
    or by what ``detector_factory`` makes of that path.
    """
    validate_name(name)
    if max_frames < 1 or max_side < 128 or smooth_window < 1 or not 0 <= pad_bottom <= 0.5:
        raise ValueError(
            f"need max_frames >= 1, max_side >= 128, smooth_window >= 1, 0 <= pad_bottom <= 0.5;"
            f" got {max_frames}, {max_side}, {smooth_window}, {pad_bottom}"
        )
    input_path = Path(input_path)
    if not input_path.is_file():
        raise FileNotFoundError(f"avatar input not found: {input_path}")
    suffix = input_path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        frames, fps, scale = _read_image(input_path, max_side)
    elif suffix in VIDEO_SUFFIXES:
        frames, fps, scale = _read_video(input_path, max_frames, max_side)
    else:
        raise ValueError(
            f"unsupported avatar input {input_path}: use an image or a video "
            f"({', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))})"
        )

    model_path = registry_path(DETECTOR, models_dir)
    detector = (detector_factory or faces.BlazeFaceDetector)(model_path)
    chosen = _track_faces(frames, detector, input_path)
    smoothed = _smooth(np.array([[f.x, f.y, f.w, f.h] for f in chosen]), smooth_window)
    boxes = np.array(
        [_crop_box(b, f.shape, pad_bottom) for b, f in zip(smoothed, frames, strict=True)]
    )
    crops = np.stack(
        [
            cv2.resize(f[y0:y1, x0:x1], (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)
            for f, (x0, y0, x1, y1) in zip(frames, boxes, strict=True)
        ]
    )
    mouths = np.array([f.keypoint("mouth") for f in chosen])
    mouth_xy = ((mouths - boxes[:, :2]) / (boxes[:, 2:] - boxes[:, :2])).mean(axis=0)
    stack = np.stack(frames)
    if len(frames) > 2:  # ping-pong 0..N-1, N-2..1: loops back and forth without a jump
        order = np.r_[0 : len(frames), len(frames) - 2 : 0 : -1]
        stack, boxes, crops = stack[order], boxes[order], crops[order]
    meta = {
        "version": PACK_VERSION,
        "name": name,
        "source": input_path.name,
        "kind": "video" if suffix in VIDEO_SUFFIXES else "image",
        "fps": fps,
        "size": [int(stack.shape[2]), int(stack.shape[1])],
        "source_frames": len(frames),
        "frames": int(len(stack)),
        "scale": scale,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "detector": {
            "model": model_path.name,
            "sha256": sha256_file(model_path) if model_path.is_file() else None,
        },
        "mouth_xy": [round(float(v), 4) for v in mouth_xy],
    }
    pack = AvatarPack(
        name, stack, boxes.astype(np.int32), crops, feather_mask(tuple(mouth_xy)), meta
    )
    pack.save(avatars_dir)
    return pack


def _downscale(frame: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    scale = min(1.0, max_side / max(frame.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale)))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(frame), scale


def _read_image(path: Path, max_side: int) -> tuple[list[np.ndarray], float, float]:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UnreadableInputError(f"cannot read image {path}: not a decodable PNG/JPEG")
    frame, scale = _downscale(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), max_side)
    return [frame], 25.0, scale


def _read_video(path: Path, max_frames: int, max_side: int) -> tuple[list, float, float]:
    import av  # only videos need PyAV

    frames, scale = [], 1.0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UnreadableInputError(f"cannot read video {path}: it has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or 25
            for decoded in container.decode(stream):
                frame, scale = _downscale(decoded.to_ndarray(format="rgb24"), max_side)
                frames.append(frame)
                if len(frames) >= max_frames:
                    break
    except av.FFmpegError as exc:
        raise UnreadableInputError(f"cannot read video {path}: {exc}") from exc
    if not frames:
        raise UnreadableInputError(f"cannot read video {path}: no frames decoded")
    return frames, float(rate), scale


def _track_faces(frames: list[np.ndarray], detector, path: Path) -> list[faces.FaceBox]:
    """The best face in the first frame, then in each frame the one overlapping it most."""
    chosen: list[faces.FaceBox] = []
    for index, frame in enumerate(frames):
        found = detector.detect(frame)
        if not found:
            where = f" (frame {index})" if len(frames) > 1 else ""
            raise NoFaceFoundError(f"no face found in {path}{where}")
        if chosen:
            found = sorted(found, key=lambda f: -_iou(f, chosen[-1]))
        chosen.append(found[0])
    return chosen


def _iou(a: faces.FaceBox, b: faces.FaceBox) -> float:
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    inter = max(w, 0.0) * max(h, 0.0)
    return inter / (a.w * a.h + b.w * b.h - inter)


def _smooth(boxes: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over ``window`` frames (shorter at the ends) against jitter."""
    half = window // 2
    out = np.empty_like(boxes)
    for i in range(len(boxes)):
        out[i] = boxes[max(0, i - half) : i + half + 1].mean(axis=0)
    return out


def _crop_box(xywh: np.ndarray, shape: tuple, pad_bottom: float) -> list[int]:
    """Wav2Lip's crop convention: the face box, bottom padded, clipped to the frame."""
    x, y, w, h = xywh
    height, width = shape[:2]
    x0, y0 = max(0, round(x)), max(0, round(y))
    x1, y1 = min(width, round(x + w)), min(height, round(y + h * (1.0 + pad_bottom)))
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise NoFaceFoundError(f"face box {xywh.round(1).tolist()} is too small or off-frame")
    return [x0, y0, x1, y1]
