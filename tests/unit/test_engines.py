"""Engine base classes and registries: each engine is built from its settings by name, a
plugin module makes its engine nameable, and a class missing part of its contract fails."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

import actors.engines.asr.whisper as whisper_module
from actors.core.messages import Transcript, Utterance
from actors.engines.asr import ASR, WhisperASR, asr_engines, utterance_of
from actors.engines.llm import LLM, ChatLLM, EchoLLM, llm_engines
from actors.engines.tts import TTS, EdgeTTS, EspeakTTS, FallbackTTS, tts_engines
from actors.engines.vad import VAD, SileroVAD
from config import Settings
from tests.fakes.failing_asr import FailingASR
from tests.fakes.fake_asr import ScriptedASR
from tests.fakes.fake_tts import FakeTTS
from tests.fakes.gated_asr import GatedWhisperASR

pytestmark = pytest.mark.unit


class StubWhisperModel:
    """Stands in for faster_whisper.WhisperModel: no model file is read."""

    def __init__(self, path: str, **options) -> None:
        self.supported_languages = ["en"]


@pytest.mark.parametrize(
    ("section", "engine_class"),
    [
        ({"engine": "echo"}, EchoLLM),
        ({"engine": "openai", "base_url": "http://127.0.0.1:1/v1"}, ChatLLM),
        ({}, EchoLLM),  # auto, with no endpoint
        ({"api_key": "sk-test"}, ChatLLM),  # auto, with a key
    ],
)
async def test_llm_engines_build_each_engine_from_settings(section, engine_class) -> None:
    settings = Settings.load({"llm": section}, env={})
    engine = llm_engines.create(settings.llm)
    assert type(engine) is engine_class and engine.settings == settings.llm
    await engine.aclose()


@pytest.mark.parametrize(
    ("section", "engine_class"),
    [({"engine": "edge"}, EdgeTTS), ({"engine": "espeak"}, EspeakTTS), ({}, FallbackTTS)],
)
def test_tts_engines_build_each_engine_from_settings(section, engine_class) -> None:
    engine = tts_engines.create(Settings.load({"tts": section}, env={}).tts)
    assert type(engine) is engine_class


def test_asr_engines_build_whisper_with_the_models_dir(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(whisper_module, "WhisperModel", StubWhisperModel)
    located = []
    monkeypatch.setattr(WhisperASR, "_locate", lambda self, root, *_: located.append(root) or "")
    settings = Settings.load({"models_dir": str(tmp_path), "asr": {"device": "cpu"}}, env={})
    engine = asr_engines.create(settings.asr, models_dir=settings.models_dir)
    assert type(engine) is WhisperASR and engine.language == "en"
    assert located == [tmp_path]


def test_a_plugin_module_makes_its_engine_nameable_and_it_transcribes() -> None:
    overrides = {
        "plugins": ["tests.fakes.fake_asr"],
        "asr": {"engine": "scripted", "script": ["One.", "Two."], "delay_s": 0},
    }
    settings = Settings.load(overrides, env={})
    assert "scripted" in asr_engines.names()
    engine = asr_engines.create(settings.asr, models_dir=settings.models_dir)
    assert isinstance(engine, ScriptedASR)
    texts = [engine.transcribe(utterance_of(np.zeros(1600, np.int16))).text for _ in range(3)]
    assert texts == ["One.", "Two.", "One."] and engine.calls == [0.1] * 3
    again = Settings.load(settings.model_dump(mode="json"), env={})  # what a replica gets
    assert again.asr == settings.asr


def test_a_plugin_that_cannot_be_imported_is_named() -> None:
    with pytest.raises(ValidationError, match="plugins: cannot import 'tests.fakes.nothing'"):
        Settings.load({"plugins": ["tests.fakes.nothing"]}, env={})


def test_the_fakes_are_engines_of_the_capability_they_fake() -> None:
    assert issubclass(FakeTTS, TTS)
    for fake in (ScriptedASR, FailingASR, GatedWhisperASR):
        assert issubclass(fake, ASR) and asr_engines.get(fake.name) is fake
    assert issubclass(SileroVAD, VAD)


class HalfASR(ASR):
    """An ASR that forgot ``transcribe``."""

    name = "half"

    def __init__(self, settings=None) -> None:
        pass


class HalfLLM(LLM):
    """An LLM that forgot ``stream``."""

    name = "half"


class HalfVAD(VAD):
    """A VAD with no ``speech_run_ms`` (barge-in needs it)."""

    sample_rate = 16000

    @classmethod
    def from_settings(cls, settings) -> HalfVAD:
        return cls()

    def feed(self, pcm: np.ndarray) -> list:
        return []

    def flush(self) -> list:
        return []

    def reset(self) -> None:
        pass


@pytest.mark.parametrize("incomplete", [HalfASR, HalfLLM, HalfVAD])
def test_an_engine_missing_part_of_its_contract_fails_to_construct(incomplete) -> None:
    with pytest.raises(TypeError, match="abstract"):
        incomplete()


def test_a_complete_engine_constructs_and_the_base_runs_it_in_a_thread() -> None:
    class Whole(HalfASR):
        def transcribe(self, utterance: Utterance) -> Transcript:
            return Transcript(f"{utterance.end_s:g} s")

    result = asyncio.run(Whole().atranscribe(utterance_of(np.zeros(8000, np.int16))))
    assert result == Transcript("0.5 s")


def test_registries_refuse_what_is_not_their_engine() -> None:
    with pytest.raises(TypeError, match="does not subclass ASR"):
        asr_engines.register(EchoLLM)
    with pytest.raises(TypeError, match="settings_class"):
        llm_engines.register(HalfLLM)  # no settings class of its own


async def test_the_llm_label_and_dumps_never_hold_the_key() -> None:
    s = Settings.load(env={"OPENAI_API_KEY": "sk-very-secret"})
    assert s.llm.label == "gpt-4o-mini @ the OpenAI API"
    assert "sk-very-secret" not in str(s.model_dump(mode="json"))
    engine = llm_engines.create(s.llm)
    assert "sk-very-secret" not in repr(engine.settings)
    await engine.aclose()
