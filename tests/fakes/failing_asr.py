"""An ASR engine, ``"failing"``, that cannot load, with the kind of long, internal message
real failures give. Importing this module registers it (``plugins:
["tests.fakes.failing_asr"]``, ``asr: {engine: failing}``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from actors.core.messages import Transcript, Utterance
from actors.engines.asr import ASR, asr_engines
from config import ASREngineSettings

__all__ = ["SECRET_LOOKING_DETAIL", "FailingASR", "FailingASRSettings"]

SECRET_LOOKING_DETAIL = "HfHubHTTPError: 404 Client Error for url https://internal.example/x"


class FailingASRSettings(ASREngineSettings):
    engine: Literal["failing"] = Field("failing", description="An engine that never loads.")
    model: str = Field("missing-model", description="The model it fails to resolve.")


@asr_engines.register
class FailingASR(ASR):
    """Raises at construction, like a model that cannot be resolved or downloaded."""

    name = "failing"
    settings_class = FailingASRSettings

    def __init__(self, settings: FailingASRSettings | None = None, /, **options) -> None:
        s = settings if settings is not None else FailingASRSettings(**options)
        raise OSError(f"could not resolve {s.model!r}: {SECRET_LOOKING_DETAIL}")

    def transcribe(self, utterance: Utterance) -> Transcript:
        raise AssertionError("a FailingASR is never constructed")
