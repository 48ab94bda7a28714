"""The language of a sentence, for choosing its voice: ``sentence_language``.

A sentence names its language (``Sentence.language``) or leaves it to ``detect_language``,
which looks only at the script: text with Han characters is Chinese (``zh``), other text
English (``en``, ``config.languages.DEFAULT_LANGUAGE``). Pure functions, no I/O.
"""

from __future__ import annotations

from actors.core.messages import Sentence
from config.languages import DEFAULT_LANGUAGE

__all__ = ["AUTO", "detect_language", "is_han", "normalize_language", "sentence_language"]

AUTO = "auto"  # a language left to detection, like None


def is_han(ch: str) -> bool:
    """A CJK Unified Ideograph (U+4E00-U+9FFF) or one of extension A (U+3400-U+4DBF)."""
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF


def detect_language(text: str) -> str:
    """``zh`` for text with any Han character, else ``en``.

    Any, not most: an English voice cannot say a Han character at all (espeak-ng's ``en-us``
    reads each as "Chinese letter"), while the Chinese voices read English words well enough,
    so ``I like 饺子 a lot.`` and ``(offline echo) You said: 你好！`` are ``zh``. Digits,
    punctuation (CJK punctuation too), spaces and emoji are neutral.
    """
    return "zh" if any(is_han(ch) for ch in text) else DEFAULT_LANGUAGE


def normalize_language(code: str | None) -> str | None:
    """A language code as the voice tables key it (``zh-CN`` -> ``zh``, ``EN`` -> ``en``);
    None for a language left to detection (None, empty, ``auto``)."""
    if code is None:
        return None
    primary = code.strip().replace("_", "-").split("-")[0].lower()
    return None if primary in ("", AUTO) else primary


def sentence_language(sentence: Sentence) -> str:
    """The language to speak ``sentence`` in: the one it names, else detected from its text."""
    return normalize_language(sentence.language) or detect_language(sentence.text)
