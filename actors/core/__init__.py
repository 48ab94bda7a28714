"""The types everything else speaks: frames between stages, server events, error codes.

    messages   AudioChunk, Utterance, Transcript, TextDelta, Sentence, TTSAudio, MediaChunk
    events     every server event, a frozen dataclass (``serve_app.protocol.to_wire`` serialises)
    errors     ErrorCode and InterruptReason (StrEnums: the wire's strings)
    pixels     the pixel formats frames travel in (rgb24, yuv420p) and their conversion
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
from actors.core.pixels import PIX_FMTS, PixFmt, frame_shape, rgb_to_yuv420p, yuv420p_to_rgb

__all__ = [
    "PIX_FMTS",
    "AudioChunk",
    "ErrorCode",
    "InterruptReason",
    "MediaChunk",
    "Sentence",
    "SpeechStarted",
    "TTSAudio",
    "TextDelta",
    "Transcript",
    "PixFmt",
    "Utterance",
    "frame_shape",
    "pad_to_frames",
    "rgb_to_yuv420p",
    "samples_per_frame",
    "yuv420p_to_rgb",
]
