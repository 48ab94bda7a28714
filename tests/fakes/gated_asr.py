"""A WhisperASR, ``"gated"``, that loads when the test says so, for tests of the "loading"
state. Importing this module registers it.

Configure ``plugins: ["tests.fakes.gated_asr"]`` and ``asr: {engine: gated, model: D}`` with
``D`` a model directory; the engine waits until the file ``D.release`` exists (the test
creates it), then loads as the real WhisperASR does. A fixed pause instead would end on its
own, and on a slow machine before the test has looked.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from actors.engines.asr import WhisperASR, asr_engines
from config import WhisperASRSettings

__all__ = ["GatedWhisperASR", "GatedWhisperASRSettings", "release_file"]


def release_file(model_dir: str | Path) -> Path:
    """The file whose creation lets ``GatedWhisperASR`` for ``model_dir`` load."""
    return Path(f"{Path(model_dir)}.release")


class GatedWhisperASRSettings(WhisperASRSettings):
    engine: Literal["gated"] = Field("gated", description="whisper, once the test releases it.")


@asr_engines.register
class GatedWhisperASR(WhisperASR):
    """The real WhisperASR, constructed once ``release_file(model)`` exists."""

    name = "gated"
    settings_class = GatedWhisperASRSettings
    poll_s = 0.05
    give_up_s = 900.0  # a test that never releases leaves no loader thread behind for long

    def __init__(self, settings: GatedWhisperASRSettings | None = None, /, **options) -> None:
        download_root = options.pop("download_root", None)
        s = settings if settings is not None else GatedWhisperASRSettings(**options)
        gate, deadline = release_file(s.model), time.monotonic() + self.give_up_s
        while not gate.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{gate} was never created")
            time.sleep(self.poll_s)
        super().__init__(s, download_root=download_root)
