"""``SettingsError``: an invalid setting as one line that names the field and what it allows.

pydantic's ``ValidationError`` prints several lines per error (field, message, input, a
documentation link). Where settings meet a person (``serve run``, a log line, a status
field) one line reads better: ``invalid setting avatar.size: Input should be greater than or
equal to 256 (allowed: 256 <= size <= 512; got 100)``.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo

_MAX_INPUT_CHARS = 40  # a long value (a whole section) would bury the message


class SettingsError(ValueError):
    """Invalid settings. ``str()`` is one line; ``fields`` are the dotted names at fault.

    A ``ValueError``, so callers that catch that keep working. ``Settings.load`` itself
    still raises pydantic's ``ValidationError``; wrap it where one line is wanted.
    """

    def __init__(self, line: str, *, fields: tuple[str, ...] = ()) -> None:
        super().__init__(line)
        self.fields = fields

    @classmethod
    def from_validation_error(cls, exc: ValidationError, *, model: type[BaseModel]):
        """One line for all of ``exc``'s errors; ``model`` is the class that was validated,
        used to state each field's allowed range and a section's known keys."""
        fields, parts = [], []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "settings"
            fields.append(name)
            parts.append(f"{name}: {_describe(err, model)}")
        label = "invalid setting" if len(parts) == 1 else "invalid settings"
        return cls(f"{label} {'; '.join(parts)}", fields=tuple(fields))


def _describe(err: dict[str, Any], model: type[BaseModel]) -> str:
    *section_path, leaf = err["loc"] or ("",)
    section = _section(model, section_path)
    if err["type"] == "extra_forbidden":
        known = ", ".join(sorted(section.model_fields)) if section else ""
        return f"unknown key (known: {known})" if known else "unknown key"
    info = section.model_fields.get(str(leaf)) if section else None
    notes = [n for n in (_allowed(str(leaf), info), _got(err, info)) if n]
    return f"{err['msg']} ({'; '.join(notes)})" if notes else err["msg"]


def _section(model: type[BaseModel], path: list[Any]) -> type[BaseModel] | None:
    """The nested settings class at ``path`` (e.g. ``["avatar"]`` -> AvatarSettings)."""
    current: type[BaseModel] | None = model
    for part in path:
        info = current.model_fields.get(str(part)) if current else None
        annotation = info.annotation if info else None
        is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        current = annotation if is_model else None
    return current


def _allowed(name: str, info: FieldInfo | None) -> str:
    """The field's numeric bounds, e.g. ``allowed: 256 <= size <= 512``; "" if it has none."""
    low = high = ""
    for item in info.metadata if info else ():
        for key, (template, is_low) in _BOUNDS.items():
            value = getattr(item, key, None)
            if value is None:
                continue
            if is_low:
                low = template.format(value)
            else:
                high = template.format(value)
    return f"allowed: {low}{name}{high}" if low or high else ""


# annotated_types constraint -> (how it reads around the field name, is it a lower bound)
_BOUNDS = {
    "ge": ("{} <= ", True),
    "gt": ("{} < ", True),
    "le": (" <= {}", False),
    "lt": (" < {}", False),
}


def _got(err: dict[str, Any], info: FieldInfo | None) -> str:
    if info is not None and _is_secret(info.annotation):
        return ""  # a secret's rejected value is the secret itself: never echo it
    text = repr(err.get("input"))
    if len(text) > _MAX_INPUT_CHARS:
        text = text[: _MAX_INPUT_CHARS - 3] + "..."
    return f"got {text}"


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)
