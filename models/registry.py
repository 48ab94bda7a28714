"""The model registry: every model avatar-chat uses, where it comes from, its checksum and licence.

Models are found, not assumed: a feature that needs a model looks it up here with
``find_model`` and, when it is missing, degrades with ``ModelMissing``'s message, which
says how to fetch it. Files live in one configurable models directory (``settings.models_dir``;
offline and in tests ``../shared/models``).
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# "onnx" / "tflite": the download is the model file itself (ONNX Runtime / LiteRT runs it).
# "pytorch": the download is a PyTorch checkpoint that `fetch` converts to ONNX (torch from
# the [export] extra). "bundled": ships inside a Python package, nothing to fetch.
# "external": another library downloads and caches it; the entry only documents it.
ModelKind = Literal["onnx", "tflite", "pytorch", "bundled", "external"]
Precision = Literal["fp32", "int8"]

_WAV2LIP_LICENCE = "non-commercial research use only (Wav2Lip, IIIT Hyderabad)"
_WAV2LIP_NOTES = (
    "Wav2Lip's weights are for non-commercial research use only (see the Wav2Lip README). "
    "The authors publish no direct URL or checksum (their links are to shared folders); the "
    "default is a widely used Hugging Face mirror, and the sha256 is the one recorded for that "
    "checkpoint by several independent projects. Point {env} at another copy if you need to."
)
_MEDIAPIPE_NOTES = (
    "MediaPipe (Apache-2.0): the file MediaPipe's own build downloads, with the sha256 its "
    "build files give (third_party/external_files.bzl), run as it is by LiteRT (ai-edge-litert). "
    "Point AVATAR_CHAT_FACE_DETECTOR_URL at another copy, or install one with --from-file."
)
# The address MediaPipe's build files give for this sha256 (since its commit ff90856), pinned
# to a generation of the bucket object as they pin it. Not the older, flat name
# mediapipe-assets/face_detection_short_range.tflite: since MediaPipe commit 000aeeb (2023-02)
# its build files give that name another file (sha256 bbff11ce...).
_FACE_DETECTOR_URL = (
    "https://storage.googleapis.com/mediapipe-assets/modules/face_detection/"
    "face_detection_short_range.tflite?generation=1782183508198291"
)


@dataclass(frozen=True)
class ModelSpec:
    """One model: the file it is stored as in the models directory and where it comes from.

    ``url`` and ``sha256`` describe the download (for "pytorch" models, the checkpoint, which
    is converted into ``filename``); ``None`` when there is no stable URL or published
    checksum (``notes`` says why). ``url_env`` names an environment variable that overrides
    ``url``. A Hugging Face Hub URL is fetched with ``huggingface_hub`` (``models.download``).
    """

    name: str
    filename: str
    url: str | None
    sha256: str | None
    licence: str
    kind: ModelKind
    notes: str = ""
    url_env: str | None = None

    def source_url(self, env: Mapping[str, str] | None = None) -> str | None:
        """The download URL: ``url_env`` from the environment if set, else ``url``."""
        env = os.environ if env is None else env
        if self.url_env and env.get(self.url_env):
            return env[self.url_env]
        return self.url

    @property
    def fetchable(self) -> bool:
        return self.kind in ("onnx", "tflite", "pytorch")

    @property
    def download_name(self) -> str:
        """The downloaded file's name (``wav2lip.pth``), as a local copy is usually called."""
        if self.url:
            name = Path(urllib.parse.urlsplit(self.url).path).name
            if name:
                return name
        return self.filename


def _spec(**fields) -> tuple[str, ModelSpec]:
    return fields["name"], ModelSpec(**fields)


REGISTRY: dict[str, ModelSpec] = dict(
    [
        _spec(
            name="face_detection_short_range",
            filename="face_detection_short_range.tflite",
            url=_FACE_DETECTOR_URL,
            sha256="3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
            licence="Apache-2.0",
            kind="tflite",
            notes=_MEDIAPIPE_NOTES,
            url_env="AVATAR_CHAT_FACE_DETECTOR_URL",
        ),
        _spec(
            name="wav2lip",
            filename="wav2lip.onnx",
            url="https://huggingface.co/camenduru/Wav2Lip/resolve/main/checkpoints/wav2lip.pth",
            sha256="b78b681b68ad9fe6c6fb1debc6ff43ad05834a8af8a62ffc4167b7b34ef63c37",
            licence=_WAV2LIP_LICENCE,
            kind="pytorch",
            notes=_WAV2LIP_NOTES.format(env="AVATAR_CHAT_WAV2LIP_URL"),
            url_env="AVATAR_CHAT_WAV2LIP_URL",
        ),
        _spec(
            name="wav2lip_gan",
            filename="wav2lip_gan.onnx",
            url="https://huggingface.co/camenduru/Wav2Lip/resolve/main/checkpoints/wav2lip_gan.pth",
            sha256="ca9ab7b7b812c0e80a6e70a5977c545a1e8a365a6c49d5e533023c034d7ac3d8",
            licence=_WAV2LIP_LICENCE,
            kind="pytorch",
            notes=_WAV2LIP_NOTES.format(env="AVATAR_CHAT_WAV2LIP_GAN_URL")
            + " The GAN variant has sharper mouths and slightly weaker sync.",
            url_env="AVATAR_CHAT_WAV2LIP_GAN_URL",
        ),
        _spec(
            name="silero_vad",
            filename="silero_vad*.onnx",
            url=None,
            sha256=None,
            licence="MIT",
            kind="bundled",
            notes="Ships inside the faster-whisper package (faster_whisper/assets); no download.",
        ),
        _spec(
            name="whisper-*",
            filename="",
            url="https://huggingface.co/Systran/faster-whisper-{size}",
            sha256=None,
            licence="MIT",
            kind="external",
            notes="Whisper models converted to CTranslate2; faster-whisper downloads them from "
            "the Hugging Face Hub on first use and caches them itself (huggingface_hub checks "
            "them). Offline, point the ASR settings at a local model directory.",
        ),
    ]
)


class ModelMissing(FileNotFoundError):
    """A model file is not in the models directory; the message says how to fetch it."""

    def __init__(self, name: str, path: Path, hint: str):
        self.name, self.path = name, path
        super().__init__(f"model {name!r} not found at {path}. {hint}")


def get_spec(name: str) -> ModelSpec:
    """The registry entry for ``name`` (``whisper-small`` matches ``whisper-*``)."""
    if name in REGISTRY:
        return REGISTRY[name]
    for pattern, spec in REGISTRY.items():
        if "*" in pattern and fnmatch.fnmatchcase(name, pattern):
            return spec
    raise KeyError(f"unknown model {name!r}; known: {', '.join(REGISTRY)}")


def model_path(name: str, models_dir: str | Path, *, precision: Precision = "fp32") -> Path:
    """Where ``name`` is stored: ``models_dir/filename``; int8 is ``<stem>_int8.onnx`` beside it."""
    spec = get_spec(name)
    if not spec.fetchable:
        raise ValueError(f"model {name!r} is not stored in the models directory ({spec.kind})")
    if precision not in ("fp32", "int8"):
        raise ValueError(f"precision must be 'fp32' or 'int8', got {precision!r}")
    path = Path(models_dir).expanduser() / spec.filename
    return path.with_name(f"{path.stem}_int8{path.suffix}") if precision == "int8" else path


def find_model(name: str, models_dir: str | Path, *, precision: Precision = "fp32") -> Path | None:
    """The model's file if it is there, else ``None`` (bundled models: inside their package)."""
    spec = get_spec(name)
    if spec.kind == "bundled":
        return _find_bundled(spec)
    if spec.kind == "external":
        return None
    path = model_path(name, models_dir, precision=precision)
    return path if path.is_file() else None


def require_model(name: str, models_dir: str | Path, *, precision: Precision = "fp32") -> Path:
    """Like ``find_model`` but raises ``ModelMissing`` with the command that fetches it."""
    found = find_model(name, models_dir, precision=precision)
    if found is not None:
        return found
    spec = get_spec(name)
    if spec.kind == "bundled":
        raise ModelMissing(name, Path(spec.filename), "Reinstall faster-whisper.")
    if spec.kind == "external":
        raise ModelMissing(name, Path(spec.filename), spec.notes)
    path = model_path(name, models_dir, precision=precision)
    return _raise_missing(spec, path, precision)


def _raise_missing(spec: ModelSpec, path: Path, precision: Precision):
    where = f"--models-dir {path.parent}"
    if precision == "int8":
        hint = f"Make it with: avatar-chat models quantize {spec.name} {where}"
    elif spec.source_url():
        hint = f"Fetch it with: avatar-chat models fetch {spec.name} {where}"
    else:
        hint = (
            "It has no stable download URL; fetch a copy with: avatar-chat models fetch "
            f"{spec.name} --url URL {where} (or --from-file PATH instead of --url)"
        )
    raise ModelMissing(spec.name, path, hint)


def _find_bundled(spec: ModelSpec) -> Path | None:
    try:
        import faster_whisper
    except ImportError:
        return None
    assets = Path(faster_whisper.__file__).parent / "assets"
    found = sorted(glob.glob(str(assets / spec.filename)))
    return Path(found[-1]) if found else None


def sha256_file(path: str | Path, *, block_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in blocks (model files are hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(block_size):
            digest.update(block)
    return digest.hexdigest()
