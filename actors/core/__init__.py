"""The types everything else speaks: frames between stages, server events, error codes.

    messages   AudioChunk, Utterance, Transcript, TextDelta, Sentence, TTSAudio, MediaChunk
    events     every server event, a frozen dataclass (``serve_app.protocol.to_wire`` serialises)
    errors     ErrorCode and InterruptReason (StrEnums: the wire's strings)
    textclean  validation of user text

NumPy only: importing these costs nothing else.
"""

from actors.core.errors import ErrorCode, InterruptReason
from actors.core.messages import (
    AudioChunk,
    MediaChunk,
    Sentence,
    SpeechStarted,
    TextDelta,
    Transcript,
    TTSAudio,
    Utterance,
    pad_to_frames,
    samples_per_frame,
)

__all__ = [
    "AudioChunk",
    "ErrorCode",
    "InterruptReason",
    "MediaChunk",
    "Sentence",
    "SpeechStarted",
    "TTSAudio",
    "TextDelta",
    "Transcript",
    "Utterance",
    "pad_to_frames",
    "samples_per_frame",
]
