"""A scriptable TTS engine for fault injection: a ``TTS`` like any other."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import numpy as np

from actors.core.language import sentence_language
from actors.core.messages import Sentence, TTSAudio
from actors.engines.tts import TTS, TTSRefused


class FakeTTS(TTS):
    """``Sentence -> TTSAudio``: a sine tone ``seconds_per_char`` long per character of text.

    Knobs (plain attributes, changeable between calls):
    ``delay_s`` waits before answering; ``fail_times`` makes the first N calls raise
    ``error``; ``hang`` makes calls wait forever (until cancelled); ``refuse_languages``
    makes calls for sentences in those languages raise ``TTSRefused`` (a voice that cannot
    read them); ``unavailable`` (a reason, or ``None``) is what ``unavailable_reason``
    answers (an engine that cannot be reached at all). ``calls`` records every text
    received, ``languages`` each one's language (``sentence_language``), ``cancelled``
    counts calls cancelled while waiting.
    """

    def __init__(
        self,
        *,
        name: str = "fake",
        sample_rate: int = 24000,
        delay_s: float = 0.0,
        fail_times: int = 0,
        hang: bool = False,
        seconds_per_char: float = 0.01,
        tone_hz: float = 220.0,
        error: type[Exception] = ConnectionError,
        refuse_languages: Collection[str] = (),
        unavailable: str | None = None,
    ):
        if sample_rate <= 0 or delay_s < 0 or fail_times < 0 or seconds_per_char <= 0:
            raise ValueError("sample_rate and seconds_per_char must be > 0; delays, counts >= 0")
        self.name = name
        self.sample_rate = sample_rate
        self.delay_s = delay_s
        self.fail_times = fail_times
        self.hang = hang
        self.seconds_per_char = seconds_per_char
        self.tone_hz = tone_hz
        self.error = error
        self.refuse_languages = set(refuse_languages)
        self.unavailable = unavailable
        self.calls: list[str] = []
        self.languages: list[str] = []
        self.cancelled = 0

    async def synthesize(self, sentence: Sentence) -> TTSAudio:
        text = sentence.text
        self.calls.append(text)
        self.languages.append(language := sentence_language(sentence))
        call_number = len(self.calls)
        try:
            if self.hang:
                await asyncio.Event().wait()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if call_number <= self.fail_times:
            raise self.error(f"{self.name}: scripted failure {call_number}/{self.fail_times}")
        if language in self.refuse_languages:
            raise TTSRefused(f"{self.name}: no voice for {language!r}")
        return TTSAudio(self.tone(len(text)), self.sample_rate, self.name, sentence)

    async def unavailable_reason(self) -> str | None:
        return self.unavailable

    def tone(self, n_chars: int) -> np.ndarray:
        n = max(1, round(n_chars * self.seconds_per_char * self.sample_rate))
        t = np.arange(n) / self.sample_rate
        return (8000 * np.sin(2 * np.pi * self.tone_hz * t)).astype(np.int16)
