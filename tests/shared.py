"""Where the tests' material lives (face detector, portrait, KubeRay's RayService schema), and
how a fresh clone gets it.

In order: the folder ``AVATAR_CHAT_SHARED`` names; ``../shared`` beside the checkout (CI's);
else a cache, ``AVATAR_CHAT_SHARED_CACHE`` or ``~/.cache/avatar-chat/shared``, which
``fill_cache`` (called at session start) fills from each file's published source, checked
against its published sha256. The first two are used as they are, offline. Only when the cache
is incomplete and cannot be filled does pytest stop, with ``MaterialMissing``'s message.
``AVATAR_CHAT_SHARED_MIRROR`` (a base URL serving a copy of the shared/ tree) replaces every
published source, for a local mirror and for the tests of this module.

The cache holds the files in the same places as ``../shared`` (``models/``, ``data/``). It has
no ONNX export of the face detector (MediaPipe publishes none): tests that compare against
``../shared``'s export skip without it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from models.registry import REGISTRY, sha256_file

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Material:
    """One file of the test material: where it sits in the folder, its source, its sha256."""

    path: str
    url: str
    sha256: str


_DETECTOR = REGISTRY["face_detection_short_range"]
MATERIAL: tuple[Material, ...] = (
    # The registry's own source and checksum, so tests fetch what users fetch.
    Material(f"models/{_DETECTOR.filename}", _DETECTOR.source_url() or "", _DETECTOR.sha256 or ""),
    # NASA's public-domain portrait of Eileen Collins as scikit-image ships it: the address
    # its data fetcher uses for a release, the sha256 of its skimage/data/_registry.py.
    Material(
        "data/portrait_astronaut.png",
        "https://github.com/scikit-image/scikit-image/raw/v0.25.2/skimage/data/astronaut.png",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    ),
    # KubeRay's RayService CRD at the commit ../shared/data/kuberay/README.md names.
    Material(
        "data/kuberay/ray.io_rayservices.yaml",
        "https://raw.githubusercontent.com/ray-project/kuberay/"
        "feeaf72facab4881ba2b179248bb67315634e229/ray-operator/config/crd/bases/"
        "ray.io_rayservices.yaml",
        "0a8fc325e6e22b9231c1f282b309555e2ecf94227ca20a03df3d1d9a403907ab",
    ),
)


class MaterialMissing(RuntimeError):
    """The test material is nowhere, and the cache cannot be filled (no network)."""


def default_cache(env: Mapping[str, str]) -> Path:
    if env.get("AVATAR_CHAT_SHARED_CACHE"):
        return Path(env["AVATAR_CHAT_SHARED_CACHE"]).expanduser()
    return Path(env.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "avatar-chat" / "shared"


def locate(env: Mapping[str, str] | None = None, root: Path = ROOT) -> tuple[Path, bool]:
    """``(folder, is_cache)``: the folder the tests read, and whether it is the cache."""
    env = os.environ if env is None else env
    if env.get("AVATAR_CHAT_SHARED"):
        return Path(env["AVATAR_CHAT_SHARED"]).expanduser(), False
    beside = root.parent / "shared"
    if (beside / "models").is_dir() and (beside / "data").is_dir():
        return beside, False
    return default_cache(env), True


SHARED, FROM_CACHE = locate()
MISSING_HINT = (
    f"offline test material not found at {SHARED}: put the project's shared/ folder (models/, "
    "data/) beside the checkout, or set AVATAR_CHAT_SHARED to it"
)


def sources(env: Mapping[str, str] | None = None) -> tuple[Material, ...]:
    """``MATERIAL``, or its files at ``AVATAR_CHAT_SHARED_MIRROR`` when that is set."""
    env = os.environ if env is None else env
    mirror = env.get("AVATAR_CHAT_SHARED_MIRROR", "").rstrip("/")
    if not mirror:
        return MATERIAL
    return tuple(Material(m.path, f"{mirror}/{m.path}", m.sha256) for m in MATERIAL)


def fill_cache(
    folder: Path,
    material: Iterable[Material] | None = None,
    *,
    progress: bool = True,
    timeout_s: float = 60.0,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Fetch every file of ``material`` (default: ``sources()``) missing from ``folder`` or
    damaged there.

    Each download is checked against its sha256 before it is moved into place, so the cache
    never holds a wrong file. Returns the paths fetched (empty when all were there) and logs
    one line for each; raises ``MaterialMissing`` naming every file it could not fetch.
    """
    from models.download import DownloadError, download

    fetched, failed = [], []
    for item in sources() if material is None else material:
        target = folder / item.path
        if target.is_file() and sha256_file(target) == item.sha256:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=target.parent) as work:
            staged = Path(work) / target.name
            try:
                download(item.url, staged, progress=progress, timeout_s=timeout_s, desc=item.path)
            except (DownloadError, ValueError) as exc:
                failed.append(f"{item.path}: {exc}")
                continue
            actual = sha256_file(staged)
            if actual != item.sha256:
                failed.append(f"{item.path}: {item.url} has sha256 {actual}, not {item.sha256}")
                continue
            os.replace(staged, target)
        fetched.append(item.path)
        log(f"avatar-chat tests: fetched {item.path} from {item.url} (sha256 checked)")
    if failed:
        raise MaterialMissing(
            f"offline test material not found: no ../shared beside the checkout, no "
            f"AVATAR_CHAT_SHARED, and the cache {folder} could not be filled: "
            + "; ".join(failed)
            + ". Put the project's shared/ folder (models/, data/) beside the checkout, set "
            "AVATAR_CHAT_SHARED to it, or run the tests once with network access"
        )
    return fetched
