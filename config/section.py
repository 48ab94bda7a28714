"""The base of every settings section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Unknown keys are errors (a typo in serve_config.yaml must not pass silently), and
    assignments are validated like construction."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
