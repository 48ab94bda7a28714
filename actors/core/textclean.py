"""Validation of user text before it enters a turn (CLI arguments, socket messages)."""

from __future__ import annotations

import unicodedata

from actors.core.errors import ErrorCode


class InputTextError(ValueError):
    """User text that cannot be spoken; ``code`` is the wire error code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def clean_text(text: object, *, max_chars: int) -> str:
    """Return speakable text: control characters removed, whitespace collapsed.

    Emoji and right-to-left scripts are kept (the TTS engines read or skip them);
    only invisible control and format characters, which confuse the splitter and
    the speech engines, are dropped. Raises :class:`InputTextError` for empty or
    over-long text, and ``bad_text`` for text with a lone surrogate (a JSON escape such
    as \\ud800, or an undecodable command-line byte), which nothing downstream can encode.
    """
    if not isinstance(text, str):
        raise InputTextError(ErrorCode.BAD_TEXT, "text must be a string")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputTextError(
            ErrorCode.BAD_TEXT, "text contains invalid Unicode characters"
        ) from None
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\n\t":
            kept.append(ch)
        elif cat == "Cc" or (cat == "Cf" and ch not in "\u200d\u200c"):
            continue  # zero-width joiners stay: emoji sequences and some scripts need them
        else:
            kept.append(ch)
    lines = [" ".join(line.split()) for line in "".join(kept).splitlines()]
    cleaned = "\n".join(line for line in lines if line).strip()
    if not cleaned:
        raise InputTextError(ErrorCode.EMPTY_TEXT, "text is empty")
    if len(cleaned) > max_chars:
        raise InputTextError(
            ErrorCode.TEXT_TOO_LONG, f"text is {len(cleaned)} characters; the limit is {max_chars}"
        )
    return cleaned
