"""A model on first use: found in the models directory, or fetched from its registry URL.

``avatar-chat avatar prepare`` needs the face detector on a fresh machine; this fetches it
(with a progress bar) the first time, and offline says which file is missing and the one
command that installs it from a local copy, rather than failing on the missing file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from models.fetch import FetchError, fetch_model
from models.registry import ModelMissing, ModelSpec, find_model, get_spec, model_path, require_model


class ModelUnavailable(ModelMissing):
    """A model is missing and fetching it failed; the message names the file, why the fetch
    failed and the command that installs it from a local copy."""


def ensure_model(
    name: str,
    models_dir: str | Path,
    *,
    progress: bool = True,
    timeout_s: float = 60.0,
    log: Callable[[str], None] | None = None,
) -> Path:
    """The installed model's path, fetched from its registry URL first if it is missing.

    ``log`` hears one line before a fetch starts. A failed fetch raises ``ModelUnavailable``
    naming the missing file, why the fetch failed and the one command that installs a local
    copy; a model without a URL raises ``require_model``'s ``ModelMissing``.
    """
    found = find_model(name, models_dir)
    if found is not None:
        return found
    spec = get_spec(name)
    source = spec.source_url()
    if not spec.fetchable or source is None:
        return require_model(name, models_dir)
    target = model_path(name, models_dir)
    if log is not None:
        log(f"fetching {name} (first use) from {source}; licence: {spec.licence}")
    try:
        return fetch_model(name, models_dir, progress=progress, timeout_s=timeout_s)
    except FetchError as exc:
        raise ModelUnavailable(name, target, _local_copy_hint(spec, target, exc)) from exc


def _local_copy_hint(spec: ModelSpec, target: Path, exc: FetchError) -> str:
    return (
        f"Fetching it failed: {exc}. With a copy of {spec.download_name} at hand, install it "
        f"with: avatar-chat models fetch {spec.name} --from-file "
        f"PATH/{spec.download_name} --models-dir {target.parent}"
    )
