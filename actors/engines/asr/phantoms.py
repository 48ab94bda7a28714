"""What Whisper says when nobody speaks: its known phantom lines, and near-silent segments.

Trained on subtitled video, Whisper answers noise and silence with the credits it saw most
("字幕由Amara.org社群提供", "Thanks for watching!"). A transcript made of such lines must not
start a turn, so segments are dropped when they are one of ``phantom_lines`` (compared without
case, spaces or punctuation) or when the model itself rates them probably not speech.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Protocol

__all__ = ["Segment", "is_phantom", "normalised", "spoken_text"]


class Segment(Protocol):
    """The parts of a faster-whisper segment this filter reads."""

    text: str
    no_speech_prob: float


def normalised(text: str) -> str:
    """``text`` without case, white space, punctuation or symbols: what the words are."""
    return "".join(
        ch for ch in unicodedata.normalize("NFKC", text).casefold()
        if unicodedata.category(ch)[0] not in "PZSC"
    )  # fmt: skip


def is_phantom(text: str, phantom_lines: Iterable[str]) -> bool:
    """Whether ``text`` is one of the phantom lines (or only repeats of them)."""
    words = normalised(text)
    if not words:
        return False
    for line in phantom_lines:
        line = normalised(line)
        if line and not words.replace(line, ""):
            return True
    return False


def spoken_text(
    segments: Iterable[Segment], *, phantom_lines: Iterable[str], max_no_speech_prob: float
) -> str:
    """The segments' text without phantom lines and segments likely to be no speech."""
    phantoms = tuple(phantom_lines)
    kept = [
        s.text
        for s in segments
        if s.no_speech_prob <= max_no_speech_prob and not is_phantom(s.text, phantoms)
    ]
    return "".join(kept).strip()
