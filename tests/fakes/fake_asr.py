"""A scripted stand-in for WhisperASR, for tests that need meaningful transcripts.

Configure the Serve app with ``asr.worker = "tests.fakes.fake_asr:ScriptedASR"`` and
``asr.model = "First transcript.|Second transcript."``: each utterance gets the next
transcript in the script (cycling). Knobs: ``delay_s`` via ``asr.cpu_threads`` is not
used; set ``ScriptedASR.delay_s`` or ``fail_times`` on the class in-process instead.
"""

from __future__ import annotations

import time

import numpy as np

from actors.core.messages import Transcript


class ScriptedASR:
    """``Utterance -> Transcript`` from a script; records the utterance lengths it got."""

    delay_s = 0.05
    fail_times = 0

    def __init__(self, model: str = "Hello.", **_options) -> None:
        self.script = [t for t in model.split("|") if t] or [""]
        self.calls: list[float] = []
        self._failures_left = self.fail_times

    def transcribe(self, pcm: np.ndarray, sample_rate: int = 16000) -> Transcript:
        t0 = time.perf_counter()
        time.sleep(self.delay_s)
        self.calls.append(len(pcm) / sample_rate)
        if self._failures_left > 0:
            self._failures_left -= 1
            raise RuntimeError("scripted ASR failure")
        text = self.script[(len(self.calls) - 1) % len(self.script)]
        return Transcript(text, "en", time.perf_counter() - t0)
