"""Fetching a registry model into the models directory: download or copy, verify, install.

Everything is staged in a temporary folder inside the models directory and moved into
place with one ``os.replace``, so a failed, cut-off or interrupted fetch never leaves a
partial model where ``find_model`` would see it. A Wav2Lip PyTorch checkpoint is converted
to ONNX (``models.export``); a ready Wav2Lip ONNX file is checked with ``Wav2LipRunner``.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Literal

from models.registry import ModelSpec, get_spec, model_path, sha256_file
from models.wav2lip_layers import FACE_SHAPE, MEL_SHAPE

PayloadFormat = Literal["onnx", "pytorch"]
_CHECKPOINT_SUFFIXES = {".pth", ".pt", ".ckpt", ".tar"}
_SHA256 = re.compile(r"[0-9a-f]{64}")


class FetchError(RuntimeError):
    """A model could not be fetched; nothing was installed."""


class DownloadError(FetchError):
    """The download failed (unreachable, HTTP error, cut off)."""


class ChecksumMismatch(FetchError):
    """The file's sha256 is not the one the registry (or the caller) expects."""


def download(
    url: str, dest: str | Path, *, progress: bool = True, timeout_s: float = 60.0, desc: str = ""
):
    """Stream ``url`` to ``dest`` with a tqdm bar; ``DownloadError`` if it fails or is cut off."""
    from tqdm import tqdm

    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"only http(s) URLs can be downloaded, got {url!r} (use --from-file)")
    request = urllib.request.Request(url, headers={"User-Agent": "avatar-chat"})
    received, total = 0, None
    try:
        with (
            urllib.request.urlopen(request, timeout=timeout_s) as response,
            open(dest, "wb") as out,
        ):
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else None
            with tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024,
                desc=desc or Path(dest).name, disable=not progress,
            ) as bar:  # fmt: skip
                while block := response.read(1 << 20):
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as exc:
        exc.close()
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets
        raise DownloadError(f"download of {url} failed: {exc}") from exc
    # http.client returns a short body silently when the server closes early.
    if total is not None and received != total:
        raise DownloadError(f"download of {url} was cut off after {received} of {total} bytes")
    return Path(dest)


def payload_format(path: Path, name_hint: str = "") -> PayloadFormat:
    """The payload's kind, ``pytorch`` or ``onnx``: by suffix, else by its first bytes."""
    suffix = Path(name_hint or path.name).suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix in _CHECKPOINT_SUFFIXES:
        return "pytorch"
    with open(path, "rb") as fh:
        head = fh.read(4)
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

    The source is ``from_file``, else ``url``, else the registry's URL. When the source has
    the registry's format, its sha256 is checked against the registry (or against ``sha256``
    when given; ``verify=False`` skips the check). An installed model is kept unless ``force``.
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
            payload = Path(from_file).expanduser()
            if not payload.is_file():
                raise FileNotFoundError(f"no such model file: {payload}")
            hint = payload.name
        else:
            hint = Path(urllib.parse.urlsplit(source).path).name
            payload = download(
                source, work / "download", progress=progress, timeout_s=timeout_s, desc=name
            )
        fmt = payload_format(payload, hint)
        _check_sha256(spec, payload, fmt, source, sha256, verify)
        staged = work / target.name
        _install(spec, payload, fmt, staged, source, copy=bool(from_file))
        os.replace(staged, target)
    return target


def _check_sha256(spec, payload: Path, fmt: str, source: str, expected, verify: bool) -> None:
    source_format = "pytorch" if spec.kind == "pytorch" else "onnx"
    expected = expected or (spec.sha256 if fmt == source_format else None)
    if not verify or expected is None:
        return
    actual = sha256_file(payload)
    if actual != expected.lower():
        raise ChecksumMismatch(
            f"{source} has sha256 {actual}, expected {expected} for {spec.name!r}: "
            "a different or damaged file; nothing was installed"
        )


def _install(spec: ModelSpec, payload: Path, fmt: str, staged: Path, source: str, *, copy: bool):
    if fmt == "pytorch":
        if spec.kind != "pytorch":
            raise FetchError(f"{source} looks like a PyTorch checkpoint; {spec.name} needs ONNX")
        from models.export import ExportError, convert_checkpoint

        try:
            convert_checkpoint(payload, staged)
        except ExportError as exc:
            raise FetchError(f"cannot convert {source}: {exc}") from exc
    elif copy:
        shutil.copyfile(payload, staged)
    else:
        payload.rename(staged)
    _validate(spec, staged, source)


def _validate(spec: ModelSpec, path: Path, source: str) -> None:
    """Load the staged file: a Wav2Lip model must have Wav2Lip's inputs and run one frame."""
    import numpy as np
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        if spec.kind == "pytorch":  # converted from a checkpoint: Wav2Lip's own shapes
            by_shape = {tuple(i.shape[1:]): i.name for i in session.get_inputs()}
            if not {MEL_SHAPE, FACE_SHAPE} <= by_shape.keys():
                seen = [(i.name, i.shape) for i in session.get_inputs()]
                raise ValueError(
                    f"not a Wav2Lip model: expected inputs [B,{','.join(map(str, MEL_SHAPE))}] "
                    f"and [B,{','.join(map(str, FACE_SHAPE))}], got {seen}"
                )
            feed = {
                by_shape[MEL_SHAPE]: np.zeros((1, *MEL_SHAPE), np.float32),
                by_shape[FACE_SHAPE]: np.zeros((1, *FACE_SHAPE), np.float32),
            }
            (out,) = session.run(None, feed)[:1]
            if not np.isfinite(out).all():
                raise ValueError("it produces non-finite output")
    except Exception as exc:  # ORT raises its own types for a bad file
        raise FetchError(f"{source} is not a usable {spec.name} model: {exc}") from exc
