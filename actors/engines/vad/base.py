"""The VAD capability: ``AudioChunk -> SpeechStarted | Utterance``, speech found in a stream."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from actors.core.messages import AudioChunk, SpeechStarted, Utterance
from config import VADSettings

__all__ = ["VAD"]


class VAD(ABC):
    """``AudioChunk -> SpeechStarted | Utterance``: the speech in one audio stream.

    One instance follows one stream (a session's microphone) and keeps its state between
    feeds, so the events do not depend on how the audio was chunked. ``feed`` returns the
    events the new audio completes: ``SpeechStarted`` once speech is confirmed, then its
    ``Utterance`` (the speech's PCM, with some audio around it for the ASR) when it ends.
    Times are seconds since the stream's first sample. Calls come one at a time, in order.
    """

    sample_rate: int  # the one rate the engine takes

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: VADSettings) -> VAD:
        """A VAD configured by the ``vad`` section."""

    @abstractmethod
    def feed(self, pcm: np.ndarray) -> list[SpeechStarted | Utterance]:
        """Add PCM16 mono samples (1-D int16) of any length; return the events they complete."""

    @abstractmethod
    def flush(self) -> list[Utterance]:
        """End of stream: the utterance in progress, if any; then start afresh at 0 s."""

    @abstractmethod
    def reset(self) -> None:
        """Forget everything: a new stream starts at 0 s."""

    @property
    @abstractmethod
    def speech_run_ms(self) -> float:
        """How long the current speech has lasted so far (0 outside speech), available
        before ``SpeechStarted`` confirms it: barge-in reacts to shorter speech."""

    def feed_chunk(self, chunk: AudioChunk) -> list[SpeechStarted | Utterance]:
        """``feed`` for an ``AudioChunk``; its rate must be the engine's ``sample_rate``."""
        if chunk.sample_rate != self.sample_rate:
            raise ValueError(f"expected {self.sample_rate} Hz audio, got {chunk.sample_rate}")
        return self.feed(chunk.pcm)
