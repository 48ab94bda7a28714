"""A random-weight Wav2Lip ONNX model for tests, built once per test session.

Building writes ~145 MB and takes a few seconds, so the path is cached per process
(keyed by directory and seed); pass a session-scoped directory such as
``tmp_path_factory.mktemp("wav2lip")``.
"""

from __future__ import annotations

from pathlib import Path

from models.wav2lip_graph import build_wav2lip_onnx

_built: dict[tuple[Path, int], Path] = {}


def wav2lip_model_path(tmp_dir: str | Path, *, seed: int = 0) -> Path:
    """Path of ``wav2lip_random_seed{seed}.onnx`` in ``tmp_dir``, building it on first use."""
    key = (Path(tmp_dir).resolve(), seed)
    if key not in _built:
        path = key[0] / f"wav2lip_random_seed{seed}.onnx"
        _built[key] = build_wav2lip_onnx(path, seed=seed)
    return _built[key]
