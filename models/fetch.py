"""Fetching a registry model into the models directory: download or copy, verify, install.

Everything is staged in a temporary folder inside the models directory and moved into
place with one ``os.replace``, so a failed, cut-off or interrupted fetch never leaves a
partial model where ``find_model`` would see it. The bytes come from ``models.download``
(the Hugging Face Hub through its cache, anything else by plain HTTP) or a local file. A
Wav2Lip PyTorch checkpoint is converted to ONNX (``models.export``); every staged file is
loaded by its runtime before it is installed (``models.validate``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import urllib.parse
from pathlib import Path
from typing import Literal

from models.download import DownloadError, FetchError, download, fetch_url
from models.registry import ModelSpec, get_spec, model_path, sha256_file
from models.validate import validate_model

__all__ = [
    "ChecksumMismatch",
    "DownloadError",
    "FetchError",
    "download",
    "fetch_model",
    "payload_format",
]

PayloadFormat = Literal["onnx", "tflite", "pytorch"]
_CHECKPOINT_SUFFIXES = {".pth", ".pt", ".ckpt", ".tar"}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FORMAT_NAMES = {"onnx": "an ONNX model", "tflite": "a TFLite model", "pytorch": "a checkpoint"}


class ChecksumMismatch(FetchError):
    """The file's sha256 is not the one the registry (or the caller) expects."""


def payload_format(path: Path, name_hint: str = "") -> PayloadFormat:
    """The payload's kind, ``pytorch``, ``tflite`` or ``onnx``: by suffix, else by its bytes."""
    suffix = Path(name_hint or path.name).suffix.lower()
    if suffix in (".onnx", ".tflite"):
        return "onnx" if suffix == ".onnx" else "tflite"
    if suffix in _CHECKPOINT_SUFFIXES:
        return "pytorch"
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[4:8] == b"TFL3":  # the TFLite flatbuffer's file identifier
        return "tflite"
    # torch.save writes a zip (PK) or, before torch 1.6, a pickle (protocol byte 0x80).
    return "pytorch" if head.startswith((b"PK\x03\x04", b"\x80")) else "onnx"


def fetch_model(
    name: str,
    models_dir: str | Path,
    *,
    url: str | None = None,
    from_file: str | Path | None = None,
    progress: bool = True,
    sha256: str | None = None,
    verify: bool = True,
    force: bool = False,
    timeout_s: float = 60.0,
) -> Path:
    """Install model ``name`` into ``models_dir`` and return its path.

    The source is ``from_file``, else ``url``, else the registry's URL (its ``url_env``
    first). When the source has the registry's format, its sha256 is checked against the
    registry (or against ``sha256`` when given; ``verify=False`` skips the check). An
    installed model is kept unless ``force`` (which also bypasses the Hub's cache).
    """
    spec = get_spec(name)
    if not spec.fetchable:
        raise FetchError(f"model {name!r} is not fetched by avatar-chat: {spec.notes}")
    if url and from_file:
        raise ValueError("give url or from_file, not both")
    if sha256 is not None and not _SHA256.fullmatch(sha256.lower()):
        raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
    target = model_path(name, models_dir)
    if target.is_file() and not force:
        return target
    source = str(from_file) if from_file else (url or spec.source_url())
    if source is None:
        raise FetchError(
            f"model {name!r} has no download URL: pass url (--url) or from_file (--from-file). "
            f"{spec.notes}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".fetch-{name}-", dir=target.parent) as work:
        work = Path(work)
        if from_file:
            payload, owned = Path(from_file).expanduser(), False
            if not payload.is_file():
                raise FileNotFoundError(f"no such model file: {payload}")
            hint = payload.name
        else:
            hint = Path(urllib.parse.urlsplit(source).path).name
            payload, owned = fetch_url(
                source, work, progress=progress, timeout_s=timeout_s, force=force, desc=name
            )
        fmt = payload_format(payload, hint)
        try:
            _check_sha256(spec, payload, fmt, source, sha256, verify)
        except ChecksumMismatch as exc:
            if from_file or owned:
                raise
            # The Hub cache keeps what it downloaded; without --force it would be reused.
            raise ChecksumMismatch(
                f"{exc} (the Hugging Face cache holds it at {payload}; --force downloads it again)"
            ) from exc
        staged = work / target.name
        _install(spec, payload, fmt, staged, source, owned=owned)
        os.replace(staged, target)
    return target


def _check_sha256(spec, payload: Path, fmt: str, source: str, expected, verify: bool) -> None:
    # The registry's checksum is the download's: a Wav2Lip entry's is its checkpoint's.
    expected = expected or (spec.sha256 if fmt == spec.kind else None)
    if not verify or expected is None:
        return
    actual = sha256_file(payload)
    if actual != expected.lower():
        raise ChecksumMismatch(
            f"{source} has sha256 {actual}, expected {expected} for {spec.name!r}: "
            "a different or damaged file; nothing was installed"
        )


def _install(spec: ModelSpec, payload: Path, fmt: str, staged: Path, source: str, *, owned: bool):
    # A Wav2Lip entry takes its checkpoint or a ready ONNX export of it; others their own form.
    allowed = ("pytorch", "onnx") if spec.kind == "pytorch" else (spec.kind,)
    if fmt not in allowed:
        wanted = " or ".join(_FORMAT_NAMES[f] for f in allowed)
        raise FetchError(f"{source} looks like {_FORMAT_NAMES[fmt]}; {spec.name} needs {wanted}")
    if fmt == "pytorch":
        from models.export import ExportError, convert_checkpoint

        try:
            convert_checkpoint(payload, staged)
        except ExportError as exc:
            raise FetchError(f"cannot convert {source}: {exc}") from exc
    elif owned:  # downloaded into the staging folder: move it
        payload.rename(staged)
    else:  # the caller's file, or the Hub cache's: copy it
        shutil.copyfile(payload, staged)
    validate_model(spec, staged, source)
