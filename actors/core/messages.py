"""Typed frames that flow between pipeline stages.

Every stage consumes and produces these plain dataclasses, so a stage can run in
process (CLI, notebooks, tests) or behind a Ray Serve deployment unchanged.
Audio is always PCM16 mono as an ``np.int16`` array plus its sample rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """Microphone audio from the client: PCM16 mono at ``sample_rate``."""

    pcm: np.ndarray
    sample_rate: int = 16000


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """VAD saw speech begin at ``at_s`` seconds into the session's input stream."""

    at_s: float


@dataclass(frozen=True, slots=True)
class Utterance:
    """One complete stretch of speech (with pre-roll), ready for ASR.

    ``language`` (a code such as ``"zh"``): the language the session chose, which the ASR
    listens for; None (or ``"auto"``) leaves it to the engine's configured language.
    """

    pcm: np.ndarray
    sample_rate: int
    start_s: float
    end_s: float
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the user said (typed or recognised)."""

    text: str
    language: str | None = None
    asr_s: float = 0.0


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of streamed LLM output."""

    text: str


@dataclass(frozen=True, slots=True)
class Sentence:
    """A complete sentence to speak; ``index`` counts from 0 within a turn.

    ``language`` (a code such as ``"zh"``) picks the voice; None (or ``"auto"``) leaves it
    to the text's script (``actors.core.language.sentence_language``). ``voice`` (a voice
    name the session chose) wins over that where the engine has it; None: the language's.
    """

    text: str
    index: int = 0
    language: str | None = None
    voice: str | None = None


@dataclass(frozen=True, slots=True)
class TTSAudio:
    """Synthesised speech for one sentence."""

    pcm: np.ndarray
    sample_rate: int
    engine: str = ""
    sentence: Sentence | None = None

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / self.sample_rate


@dataclass(frozen=True, slots=True)
class VideoFrames:
    """Rendered avatar frames, RGB uint8 ``[N, H, W, 3]`` at ``fps``."""

    frames: np.ndarray
    fps: int

    def __len__(self) -> int:
        return int(self.frames.shape[0])


@dataclass(frozen=True, slots=True)
class MediaChunk:
    """Encoded fragmented-MP4 bytes of one turn: the init segment or a fragment."""

    data: bytes
    kind: Literal["init", "fragment"]
    seq: int
    start_s: float = 0.0
    duration_s: float = 0.0
    turn_id: str = ""


@dataclass(slots=True)
class StageTimings:
    """Seconds spent per stage in one turn (summed over sentences)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, dt: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + dt


def samples_per_frame(sample_rate: int, fps: int) -> int:
    """Audio samples per video frame; rates in use divide evenly (24000/25 = 960)."""
    if sample_rate % fps:
        raise ValueError(f"sample rate {sample_rate} is not a multiple of fps {fps}")
    return sample_rate // fps


def pad_to_frames(
    pcm: np.ndarray, sample_rate: int, fps: int, *, min_samples: int = 0
) -> np.ndarray:
    """Pad PCM with silence to a whole number of video frames, at least ``min_samples`` long.

    Sentences are padded this way so each one maps to exactly N frames: audio and
    video timestamps then derive from the same sample count and never drift. Empty audio
    becomes one frame of silence.
    """
    spf = samples_per_frame(sample_rate, fps)
    n = max(len(pcm), min_samples, 1)
    n = -(-n // spf) * spf
    if n == len(pcm):
        return pcm
    return np.concatenate([pcm, np.zeros(n - len(pcm), dtype=pcm.dtype)])
