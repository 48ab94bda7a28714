"""An ASR worker that cannot load, with the kind of long, internal message real failures give."""

from __future__ import annotations

SECRET_LOOKING_DETAIL = "HfHubHTTPError: 404 Client Error for url https://internal.example/x"


class FailingASR:
    """Raises at construction, like a model that cannot be resolved or downloaded."""

    def __init__(self, model: str, **options) -> None:
        raise OSError(f"could not resolve {model!r}: {SECRET_LOOKING_DETAIL}")
