"""A scripted ASR engine, ``"scripted"``, for tests that need meaningful transcripts.

Importing this module registers it. A Serve app gets it with ``plugins:
["tests.fakes.fake_asr"]`` (so each replica imports this module before it validates the
settings) and ``asr: {engine: scripted, script: ["First.", "Second."]}``: each utterance
gets the next transcript of the script, cycling.
"""

from __future__ import annotations

import threading
import time
from typing import Literal

from pydantic import Field

from actors.core.messages import Transcript, Utterance
from actors.engines.asr import ASR, asr_engines
from config import ASREngineSettings

__all__ = ["ScriptedASR", "ScriptedASRSettings"]


class ScriptedASRSettings(ASREngineSettings):
    engine: Literal["scripted"] = Field("scripted", description="Transcripts from a script.")
    script: list[str] = Field(["Hello."], min_length=1, description="Transcripts, in turn.")
    delay_s: float = Field(0.05, ge=0, description="Seconds each transcription takes.")
    fail_times: int = Field(0, ge=0, description="The first N transcriptions raise.")


@asr_engines.register
class ScriptedASR(ASR):
    """``Utterance -> Transcript`` from a script; ``calls`` records the utterances' lengths."""

    name = "scripted"
    settings_class = ScriptedASRSettings

    def __init__(self, settings: ScriptedASRSettings | None = None, /, **options) -> None:
        self.settings = settings if settings is not None else ScriptedASRSettings(**options)
        self.calls: list[float] = []
        self._lock = threading.Lock()  # the deployment transcribes in several threads

    def transcribe(self, utterance: Utterance) -> Transcript:
        t0 = time.perf_counter()
        time.sleep(self.settings.delay_s)
        with self._lock:
            self.calls.append(len(utterance.pcm) / utterance.sample_rate)
            n = len(self.calls)
        if n <= self.settings.fail_times:
            raise RuntimeError(f"scripted ASR failure {n}/{self.settings.fail_times}")
        script = self.settings.script
        return Transcript(script[(n - 1) % len(script)], "en", time.perf_counter() - t0)
