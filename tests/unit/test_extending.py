"""A TTS engine added from outside the package, with the public API only (docs/extending.md).

One module (this one), one settings class, one registry entry: then the settings accept it by
name and a reply is spoken with it, end to end through the real pipeline and encoder.
"""

from __future__ import annotations

import io
from typing import Literal

import av
import numpy as np
import pytest
from pydantic import Field, ValidationError

from actors.core.messages import MediaChunk, Sentence, TTSAudio
from actors.engines.tts import TTS, tts_engines
from actors.pipeline.local_stages import LocalStages, verbatim
from actors.pipeline.turn_events import SentenceStarted, TurnDone
from config import Settings, TTSEngineSettings

pytestmark = pytest.mark.unit


class ToneTTSSettings(TTSEngineSettings):
    engine: Literal["tone"] = Field("tone", description="A pure tone per sentence (a demo).")
    pitch_hz: float = Field(440.0, gt=50, lt=4000, description="The tone's frequency.")
    seconds_per_char: float = Field(0.03, gt=0, description="Speech length per character.")


class ToneTTS(TTS):
    """``Sentence -> TTSAudio``: a tone as long as the sentence would take to say."""

    name = "tone"
    settings_class = ToneTTSSettings

    def __init__(self, settings: ToneTTSSettings) -> None:
        self.settings = settings
        self.sample_rate = settings.sample_rate

    async def synthesize(self, sentence: Sentence) -> TTSAudio:
        s = self.settings
        n = max(1, round(len(sentence.text) * s.seconds_per_char * self.sample_rate))
        t = np.arange(n) / self.sample_rate
        pcm = (9000 * np.sin(2 * np.pi * s.pitch_hz * t)).astype(np.int16)
        return TTSAudio(pcm, self.sample_rate, self.name, sentence)


@pytest.fixture
def tone_engine():
    tts_engines.register(ToneTTS)
    yield ToneTTS
    tts_engines.unregister("tone")


def dominant_hz(mp4: bytes) -> float:
    with av.open(io.BytesIO(mp4)) as container:
        rate = container.streams.audio[0].rate
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    spectrum = np.abs(np.fft.rfft(pcm[rate // 10 :]))  # past the AAC encoder's priming
    return float(np.fft.rfftfreq(len(pcm) - rate // 10, 1 / rate)[spectrum.argmax()])


async def test_a_registered_engine_is_chosen_by_name_and_speaks_a_reply(tone_engine) -> None:
    settings = Settings.load({"tts": {"engine": "tone", "pitch_hz": 330}}, env={})
    assert isinstance(settings.tts, ToneTTSSettings) and settings.tts.pitch_hz == 330
    stages = LocalStages(settings)
    assert isinstance(stages.tts, ToneTTS)
    media, engines = bytearray(), set()
    async for event in stages.pipeline().run(verbatim("Hello there. How are you today?")):
        if isinstance(event, MediaChunk):
            media += event.data
        elif isinstance(event, SentenceStarted):
            engines.add(event.engine)
        elif isinstance(event, TurnDone):
            done = event
    assert engines == {"tone"}
    assert done.media_s == pytest.approx(31 * 0.03, abs=0.1)  # 31 characters of "speech"
    assert dominant_hz(bytes(media)) == pytest.approx(330, abs=5)


def test_settings_of_a_registered_engine_are_validated(tone_engine) -> None:
    with pytest.raises(ValidationError, match="tts.pitch_hz"):
        Settings.load({"tts": {"engine": "tone", "pitch_hz": 9}}, env={})


def test_an_unregistered_engine_is_unknown() -> None:
    with pytest.raises(ValidationError, match="unknown engine 'tone'"):
        Settings.load({"tts": {"engine": "tone"}}, env={})
    with pytest.raises(TypeError, match="subclass"):
        tts_engines.register(Settings)  # not a TTS
