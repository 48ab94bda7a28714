"""Render the settings reference (docs/configuration.md) from the pydantic models.

    python -m config.reference > docs/configuration.md

A unit test checks that the committed file matches, so the docs cannot drift.
"""

from __future__ import annotations

from pydantic import BaseModel

from config.engine_settings import EngineSettings, choices
from config.settings import ENV_OVERRIDES, Settings

HEADER = """# Configuration reference

Generated from the models in `config/` by `python -m config.reference`; do not edit by hand.

Settings are nested. Give overrides as `args` in `serve_config.yaml` (for example
`args: {tts: {engine: espeak}}`); secrets and endpoints come from the environment:

| environment variable | setting |
| --- | --- |
"""


def _rows(model: type[BaseModel], prefix: str = "") -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, EngineSettings):
            rows.extend(_engine_rows(annotation, path, field, nested=bool(prefix)))
            continue
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.append(f"\n## `{path}`\n")
            rows.append("| setting | type | default | meaning |")
            rows.append("| --- | --- | --- | --- |")
            rows.extend(_rows(annotation, f"{path}."))
            continue
        default = field.get_default(call_default_factory=True)
        if name in ("models_dir", "avatars_dir"):
            default = f"~/.cache/avatar-chat/{name.split('_')[0]}"
        type_name = getattr(annotation, "__name__", None) or str(annotation)
        type_name = type_name.replace("typing.", "").replace("pydantic.types.", "")
        type_name = type_name.replace("|", "or")
        rows.append(f"| `{path}` | {type_name} | `{default!r}` | {field.description} |")
    return rows


def _engine_rows(base: type[EngineSettings], path: str, field, *, nested: bool) -> list[str]:
    """A section of any registered engine: the default's name, then one table per engine.

    The default is the field's ``json_schema_extra["engine"]`` where the name is resolved
    at validation (``llm``: ``auto``), else its default's engine. Engines registered from
    outside ``config`` (a plugin, a test's fake) are not avatar-chat's to document.
    """
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    default = extra.get("engine") or field.get_default(call_default_factory=True).engine
    if nested:  # an engine inside an engine (a fallback's primary): the tables are above
        return [f"| `{path}` | {base.__name__} | `{default!r}` | {field.description} |"]
    rows = [f"\n## `{path}`\n", f"{field.description} `engine` picks one (default `{default}`):"]
    for name, settings_class in sorted(choices(base).items()):
        if settings_class.__module__.split(".")[0] != "config":
            continue
        rows.append(f"\n### `{path}` with `engine: {name}`\n")
        rows.append("| setting | type | default | meaning |")
        rows.append("| --- | --- | --- | --- |")
        rows.extend(_rows(settings_class, f"{path}."))
    return rows


def render() -> str:
    env = "\n".join(f"| `{var}` | `{path}` |" for var, path in ENV_OVERRIDES.items())
    top = [r for r in _rows(Settings) if r.startswith("| `") and "." not in r.split("`")[1]]
    nested = [r for r in _rows(Settings) if r not in top]
    general = [
        "\n## General\n",
        "| setting | type | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    return HEADER + env + "\n" + "\n".join(general + top + nested) + "\n"


if __name__ == "__main__":
    print(render(), end="")
