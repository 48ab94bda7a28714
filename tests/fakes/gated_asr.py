"""A WhisperASR that loads when the test says so, for tests of the "loading" state.

Configure ``asr.worker = "tests.fakes.gated_asr:GatedWhisperASR"`` with ``asr.model`` a
model directory ``D``; the worker waits until the file ``D.release`` exists (the test
creates it), then loads the real WhisperASR. A fixed pause instead would end on its own,
and on a slow machine before the test has looked.
"""

from __future__ import annotations

import time
from pathlib import Path


def release_file(model_dir: str | Path) -> Path:
    """The file whose creation lets ``GatedWhisperASR`` for ``model_dir`` load."""
    return Path(f"{Path(model_dir)}.release")


class GatedWhisperASR:
    """The real WhisperASR, constructed once ``release_file(model)`` exists."""

    poll_s = 0.05
    give_up_s = 900.0  # a test that never releases leaves no loader thread behind for long

    def __new__(cls, model: str, **options):
        from actors.engines.asr.whisper import WhisperASR

        gate, deadline = release_file(model), time.monotonic() + cls.give_up_s
        while not gate.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{gate} was never created")
            time.sleep(cls.poll_s)
        return WhisperASR(model, **options)
