"""Engines by name: one registry per capability, built from validated settings.

    tts_engines.register(EdgeTTS)            # EdgeTTS.settings_class names it ("edge")
    engine = tts_engines.create(settings.tts)

Registering an engine also registers its settings class with ``config``, so a settings
section of that capability accepts ``{"engine": "<name>", ...}`` from then on.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from config.engine_settings import (
    EngineSettings,
    engine_name,
    register_engine_settings,
    unregister_engine_settings,
)

__all__ = ["Engine", "EngineRegistry"]


class Engine:
    """What every engine class declares: the settings it is built from, and how."""

    settings_class: type[EngineSettings]

    @classmethod
    def settings_from(cls, settings: EngineSettings | None, options: dict[str, Any]) -> Any:
        """``settings`` as given, else ``settings_class(**options)`` (validated there): engine
        constructors take either the validated object or its fields as keywords."""
        return settings if settings is not None else cls.settings_class(**options)

    @classmethod
    def from_settings(cls, settings: Any) -> Any:
        """The engine for validated ``settings`` (an instance of ``settings_class``)."""
        return cls(settings)


E = TypeVar("E", bound=Engine)


class EngineRegistry(Generic[E]):
    """Engine classes of one capability (``base``), keyed by their settings' engine name."""

    def __init__(self, capability: str, base: type[E], settings_base: type[EngineSettings]):
        self.capability = capability
        self.base = base
        self.settings_base = settings_base
        self._engines: dict[str, type[E]] = {}

    def register(self, engine_class: type[E]) -> type[E]:
        """Add ``engine_class`` (usable as a class decorator); a name is registered once."""
        if not (isinstance(engine_class, type) and issubclass(engine_class, self.base)):
            raise TypeError(f"{engine_class!r} does not subclass {self.base.__name__}")
        settings_class = getattr(engine_class, "settings_class", None)
        base = self.settings_base
        if not (isinstance(settings_class, type) and issubclass(settings_class, base)):
            raise TypeError(f"{engine_class.__name__}.settings_class must subclass {base.__name__}")
        name = engine_name(settings_class)
        if self._engines.get(name, engine_class) is not engine_class:
            raise ValueError(f"a {self.capability} engine named {name!r} is already registered")
        register_engine_settings(self.settings_base, settings_class)
        self._engines[name] = engine_class
        return engine_class

    def unregister(self, name: str) -> None:
        """Remove engine ``name`` (tests that registered one for a while)."""
        self._engines.pop(name, None)
        unregister_engine_settings(self.settings_base, name)

    def names(self) -> list[str]:
        return sorted(self._engines)

    def get(self, name: str) -> type[E]:
        try:
            return self._engines[name]
        except KeyError:
            known = ", ".join(self.names())
            raise ValueError(f"unknown {self.capability} engine {name!r}; known: {known}") from None

    def create(self, settings: EngineSettings, **context: Any) -> E:
        """The engine ``settings.engine`` names, built by its ``from_settings``; ``context``
        is what a capability's engines take from outside their section (ASR: ``models_dir``)."""
        return self.get(settings.engine).from_settings(settings, **context)
