"""A session's own choices (language, avatar, voice, persona) and the rules for changing them.

Pure data and functions, no Ray, no I/O: the session gathers what may be chosen
(``ChoiceOptions``: the Avatar deployment's catalog, the TTS deployment's voices and the
``choices`` settings), and ``choose`` checks a request against it. A request that breaks a
rule raises ``ChoiceError`` with its error code, and the session keeps what it had: a request
is taken whole or not at all. docs/protocol.md ("Session choices") is the client's view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from actors.core.errors import ErrorCode
from actors.core.language import AUTO, normalize_language
from config import ChoicesSettings
from config.languages import LANGUAGES

__all__ = [
    "CHOICE_KEYS",
    "ChoiceError",
    "ChoiceOptions",
    "SessionChoices",
    "choose",
    "language_instruction",
    "system_prompt",
]

CHOICE_KEYS = ("language", "avatar", "voice", "persona")  # in the order they are checked


class ChoiceError(ValueError):
    """A choice the server does not offer; ``code`` goes into the ``error`` event. Messages
    never quote what the client sent."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class SessionChoices:
    """What one session chose; None everywhere is the server's default (today's behaviour).

    ``language``: ``en`` or ``zh`` (None: auto: each sentence's voice from its text, the ASR's
    configured language, no instruction to the model). ``avatar``: a catalog name (None: the
    server's avatar). ``voice``: a voice name and ``voice_language`` the language it speaks
    (None: each language's first voice). ``persona``: the system prompt (None: the server's).
    """

    language: str | None = None
    avatar: str | None = None
    voice: str | None = None
    voice_language: str | None = None
    persona: str | None = None

    def to_wire(self, *, default_avatar: str | None = None) -> dict[str, Any]:
        """The ``choices`` of the ``session`` and ``configured`` events."""
        return {
            "language": self.language or AUTO,
            "avatar": self.avatar or default_avatar,
            "voice": self.voice,
            "persona": self.persona,
        }

    def to_dict(self) -> dict[str, str | None]:
        """What the session store keeps (``from_dict`` reads it back)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SessionChoices:
        """Choices saved by ``to_dict``; anything missing or not a string is the default."""
        data = data if isinstance(data, Mapping) else {}
        values = {k: data.get(k) for k in cls.__dataclass_fields__}
        return cls(**{k: v if isinstance(v, str) else None for k, v in values.items()})

    def voices(self) -> dict[str, str]:
        """Language -> the chosen voice, for the sentences a turn makes: the chosen voice
        speaks only its own language."""
        return {self.voice_language: self.voice} if self.voice and self.voice_language else {}


@dataclass(frozen=True, slots=True)
class ChoiceOptions:
    """What a session may choose: avatar names, voice names per language, persona rules.

    ``default_avatar`` is the name of the server's avatar (choosing it is choosing None).
    """

    avatars: tuple[str, ...] = ()
    voices: Mapping[str, Sequence[str]] = field(default_factory=dict)
    languages: tuple[str, ...] = tuple(LANGUAGES)
    allow_persona: bool = False
    max_persona_chars: int = 1000
    default_avatar: str | None = None

    @classmethod
    def offered(
        cls,
        settings: ChoicesSettings,
        *,
        avatars: Sequence[str],
        voices: Mapping[str, Sequence[str]],
        default_avatar: str | None = None,
    ) -> ChoiceOptions:
        """The options the server's ``choices`` settings leave of what it has: ``avatars``
        (the catalog's names) and ``voices`` (the TTS engine's, by language), each narrowed
        to its allowlist when that is not empty. The default avatar always stays."""
        keep_avatar = set(settings.avatars) | {default_avatar}
        keep_voice = set(settings.voices)
        return cls(
            avatars=tuple(a for a in avatars if not settings.avatars or a in keep_avatar),
            voices={
                lang: [v for v in names if not keep_voice or v in keep_voice]
                for lang, names in voices.items()
                if lang in LANGUAGES
            },
            allow_persona=settings.allow_persona,
            max_persona_chars=settings.max_persona_chars,
            default_avatar=default_avatar,
        )

    def wire_languages(self) -> list[str]:
        return [AUTO, *self.languages]

    def wire_voices(self) -> dict[str, list[str]]:
        return {lang: list(names) for lang, names in self.voices.items()}


def choose(
    current: SessionChoices, request: Mapping[str, str | None], options: ChoiceOptions
) -> SessionChoices:
    """``current`` with the choices in ``request`` (keys of ``CHOICE_KEYS``; a None value, or
    an empty one, returns that choice to the server's default) applied, or ``ChoiceError``.

    Checked in the order of ``CHOICE_KEYS``; the first broken rule refuses the whole request.
    A voice must be one of ``options.voices`` for the session's language (with the language
    on auto, of any language). A language change drops a chosen voice of another language.
    """
    new = current
    if "language" in request:
        new = replace(new, language=_language(request["language"], options))
        if new.voice and new.language and new.voice_language != new.language:
            new = replace(new, voice=None, voice_language=None)
    if "avatar" in request:
        new = replace(new, avatar=_avatar(request["avatar"], options))
    if "voice" in request:
        voice, voice_language = _voice(request["voice"], new.language, options)
        new = replace(new, voice=voice, voice_language=voice_language)
    if "persona" in request:
        new = replace(new, persona=_persona(request["persona"], options))
    return new


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def _language(value: str | None, options: ChoiceOptions) -> str | None:
    if _blank(value) or value.strip().lower() == AUTO:
        return None
    code = normalize_language(value)  # zh-CN is zh, EN is en
    if code not in options.languages:
        known = ", ".join(f"'{c}'" for c in options.wire_languages())
        raise ChoiceError(ErrorCode.UNKNOWN_LANGUAGE, f"unknown language; choose one of {known}")
    return code


def _avatar(value: str | None, options: ChoiceOptions) -> str | None:
    if _blank(value):
        return None
    name = value.strip()
    if name == options.default_avatar:
        return None
    if name not in options.avatars:
        raise ChoiceError(
            ErrorCode.UNKNOWN_AVATAR,
            "unknown avatar; choose a name from the session event's 'avatars'",
        )
    return name


def _voice(
    value: str | None, language: str | None, options: ChoiceOptions
) -> tuple[str | None, str | None]:
    if _blank(value):
        return None, None
    name = value.strip()
    languages = [language] if language else list(options.voices)
    for lang in languages:
        if name in options.voices.get(lang, ()):
            return name, lang
    where = f"for language '{language}'" if language else "of any language"
    raise ChoiceError(
        ErrorCode.UNKNOWN_VOICE,
        f"that voice is not offered {where}; choose one from the session event's 'voices'",
    )


def _persona(value: str | None, options: ChoiceOptions) -> str | None:
    if _blank(value):
        return None  # back to the server's persona: always allowed
    if not options.allow_persona:
        raise ChoiceError(
            ErrorCode.PERSONA_NOT_ALLOWED, "this server does not let clients set a persona"
        )
    persona = value.strip()
    if len(persona) > options.max_persona_chars:
        raise ChoiceError(
            ErrorCode.PERSONA_TOO_LONG,
            f"the persona is {len(persona)} characters; the limit is {options.max_persona_chars}",
        )
    return persona


# What the model is told when a session chose its language, after the persona.
_INSTRUCTIONS = {
    "en": "Always reply in English, whatever language the user writes in.",
    "zh": (
        "Always reply in Mandarin Chinese written in Simplified characters, whatever "
        "language the user writes in."
    ),
}


def language_instruction(language: str | None) -> str | None:
    """The sentence that tells the model to answer in ``language`` (None: auto: none)."""
    if language is None:
        return None
    return _INSTRUCTIONS.get(language) or (
        f"Always reply in {LANGUAGES.get(language, language)}, whatever language the user "
        "writes in."
    )


def system_prompt(choices: SessionChoices, base_persona: str | None) -> str | None:
    """The system prompt of a session's turn: its persona (else ``base_persona``, the
    server's), then the language instruction when a language was chosen. None when the
    session chose neither, so the engine uses its own persona unchanged."""
    instruction = language_instruction(choices.language)
    if choices.persona is None and instruction is None:
        return None
    persona = choices.persona if choices.persona is not None else base_persona
    return "\n\n".join(part for part in (persona, instruction) if part)
