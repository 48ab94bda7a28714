"""``AvatarPack``: a prepared avatar on disk, saved atomically and validated on load.

A pack directory ``avatars_dir/name/`` holds ``frames.npy`` (N, H, W, 3 uint8), ``boxes.npy``
(N, 4 int crop boxes x0 y0 x1 y1), ``crops.npy`` (N, 96, 96, 3 uint8 RGB), ``mask.npy``
(96x96 float32 feather mask) and ``meta.json``. Loading a pack needs only NumPy: no
detector, no ONNX Runtime. ``actors.engines.avatar.prepare`` makes packs.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from actors.engines.avatar.pasteback import CROP_SIZE

PACK_VERSION = 1
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ARRAYS = ("frames", "boxes", "crops", "mask")


def is_pack_name(name: object) -> bool:
    """Whether ``name`` may name a pack (``validate_name`` accepts it)."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"avatar name must be 1-64 letters, digits, '-' or '_', got {name!r}")
    return name


@dataclass(frozen=True, eq=False)
class AvatarPack:
    """A prepared avatar: frames to loop (ping-ponged for videos), crop boxes, 96x96 crops."""

    name: str
    frames: np.ndarray
    boxes: np.ndarray
    crops: np.ndarray
    mask: np.ndarray
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def fps(self) -> float:
        return float(self.meta.get("fps", 25.0))

    def save(self, avatars_dir: str | Path) -> Path:
        """Write ``avatars_dir/name/`` atomically (a half-written pack is never visible)."""
        _check_arrays(self.frames, self.boxes, self.crops, self.mask, where=self.name)
        target = Path(avatars_dir) / validate_name(self.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.name}-", dir=target.parent))
        try:
            for key in _ARRAYS:
                np.save(staging / f"{key}.npy", getattr(self, key), allow_pickle=False)
            (staging / "meta.json").write_text(json.dumps(self.meta, indent=2))
            if target.exists():
                old = target.with_name(f".{self.name}-old-{staging.name}")
                target.rename(old)
                shutil.rmtree(old)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, avatars_dir: str | Path, name: str) -> AvatarPack:
        path = Path(avatars_dir) / validate_name(name)
        if not (path / "meta.json").is_file():
            raise FileNotFoundError(f"no avatar pack {name!r} at {path}")
        try:
            meta = json.loads((path / "meta.json").read_text())
            version = meta.get("version") if isinstance(meta, dict) else None
            if version != PACK_VERSION:  # checked first: an old pack may hold other arrays
                raise ValueError(f"version {version!r}, expected {PACK_VERSION}: prepare it again")
            arrays = {k: np.load(path / f"{k}.npy", allow_pickle=False) for k in _ARRAYS}
        except (OSError, ValueError) as exc:
            raise ValueError(f"avatar pack at {path} is damaged: {exc}") from exc
        _check_arrays(**arrays, where=str(path))
        return cls(name=name, meta=meta, **arrays)


def _check_arrays(frames, boxes, crops, mask, *, where: str) -> None:
    n = len(frames)
    ok = (
        frames.ndim == 4
        and frames.shape[3] == 3
        and frames.dtype == np.uint8
        and n > 0
        and boxes.shape == (n, 4)
        and np.issubdtype(boxes.dtype, np.integer)
        and crops.shape == (n, CROP_SIZE, CROP_SIZE, 3)
        and crops.dtype == np.uint8
        and mask.ndim == 2
        and mask.dtype == np.float32
    )
    if ok:
        h, w = frames.shape[1:3]
        x0, y0, x1, y1 = boxes.T
        ok = bool(np.all((0 <= x0) & (x0 < x1) & (x1 <= w) & (0 <= y0) & (y0 < y1) & (y1 <= h)))
    if not ok:
        raise ValueError(
            f"avatar pack {where}: inconsistent arrays frames {frames.shape} {frames.dtype}, "
            f"boxes {boxes.shape}, crops {crops.shape}, mask {mask.shape} {mask.dtype}"
        )
