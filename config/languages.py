"""The languages avatar-chat picks voices for, by code: the keys of per-language settings.

``DEFAULT_LANGUAGE`` is the language of text with no Han characters, and the one an
engine's plain ``voice`` speaks. ``actors.core.language`` tells a sentence's language.
"""

from __future__ import annotations

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES"]

LANGUAGES: dict[str, str] = {"en": "English", "zh": "Chinese"}
DEFAULT_LANGUAGE = "en"
