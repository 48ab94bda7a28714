"""What a running turn yields: ``TurnPipeline.run`` emits these, ``MediaChunk``s, and each
``TextDelta`` of the reply as it passes through."""

from __future__ import annotations

from dataclasses import dataclass, field

from actors.core.errors import ErrorCode
from actors.core.messages import MediaChunk, Sentence, StageTimings, TextDelta


@dataclass(frozen=True, slots=True)
class SentenceStarted:
    """A sentence's media follows; ``start_s`` is its start within the turn's media."""

    sentence: Sentence
    start_s: float
    duration_s: float
    engine: str


@dataclass(frozen=True, slots=True)
class TurnFailed:
    """A part of the turn failed; ``code`` goes into its ``error`` event."""

    code: ErrorCode
    message: str


@dataclass(slots=True)
class TurnDone:
    text: str
    media_s: float
    timings: StageTimings = field(default_factory=StageTimings)


TurnEvent = TextDelta | SentenceStarted | MediaChunk | TurnFailed | TurnDone
