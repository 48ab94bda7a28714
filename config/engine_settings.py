"""Per-engine settings, chosen by name: the ``engine`` key picks the settings class.

Each capability (``tts``, ``asr``, ...) has a base settings class; every engine of it has a
subclass whose ``engine`` field is a ``Literal`` of its registry name. A settings section
typed ``engine_choice(Base)`` accepts any registered subclass, found by its ``engine`` value:
a tagged (discriminated) union that an engine from outside this package can join with
``register_engine_settings`` (``actors.engines.engine_registry`` does it when the engine registers).
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

from pydantic import BeforeValidator, SerializeAsAny

from config.section import Section

__all__ = ["EngineSettings", "engine_choice", "engine_name", "register_engine_settings"]


class EngineSettings(Section):
    """The base of one engine's settings; ``engine`` is the engine's registry name."""

    engine: str

    @property
    def label(self) -> str:
        """The engine in a log line (engines add their model; never a secret)."""
        return self.engine


_CHOICES: dict[type[EngineSettings], dict[str, type[EngineSettings]]] = {}


def engine_name(settings_class: type[EngineSettings]) -> str:
    """The one name in a settings class's ``engine: Literal[...]`` field."""
    names = get_args(settings_class.model_fields["engine"].annotation)
    if len(names) != 1 or not isinstance(names[0], str):
        raise TypeError(f"{settings_class.__name__}.engine must be a Literal of one name")
    return names[0]


def register_engine_settings(base: type[EngineSettings], settings_class: type) -> None:
    """Let sections typed ``engine_choice(base)`` accept ``settings_class`` by its name."""
    if not (isinstance(settings_class, type) and issubclass(settings_class, base)):
        raise TypeError(f"{settings_class!r} is not a subclass of {base.__name__}")
    name = engine_name(settings_class)
    known = _CHOICES.setdefault(base, {})
    if known.get(name, settings_class) is not settings_class:
        raise ValueError(f"a {base.__name__} named {name!r} is already registered")
    known[name] = settings_class


def unregister_engine_settings(base: type[EngineSettings], name: str) -> None:
    _CHOICES.get(base, {}).pop(name, None)


def choices(base: type[EngineSettings]) -> dict[str, type[EngineSettings]]:
    """Registered engine name -> settings class, for ``base``."""
    return dict(_CHOICES.get(base, {}))


def engine_choice(base: type[EngineSettings], default: str):
    """The annotation of a section holding settings of any registered engine of ``base``.

    A dict is validated by the class its ``engine`` names (``default`` when absent); unknown
    names are refused with the list of known ones. Dumps keep the subclass's fields.
    """

    def pick(value: Any) -> Any:
        if isinstance(value, base):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"must be a mapping with an 'engine' key, got {type(value).__name__}")
        name = value.get("engine", default)
        known = _CHOICES.get(base, {})
        if name not in known:
            raise ValueError(f"unknown engine {name!r}; known: {', '.join(sorted(known))}")
        return known[name].model_validate({**value, "engine": name})

    return Annotated[SerializeAsAny[base], BeforeValidator(pick)]
