"""WhisperASR through real faster-whisper on a tiny random-weight model built offline."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import numpy as np
import pytest

import actors.engines.asr.whisper as asr_module
from actors.core.messages import Transcript, Utterance
from actors.engines.asr import ASRUnavailable, DownloadProgress, WhisperASR, utterance_of
from tests.fakes.speech import speech_with_silence
from tests.fakes.tiny_whisper import LANGUAGES, build_tiny_whisper

pytestmark = pytest.mark.unit


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"))


@pytest.fixture(scope="module")
def asr(tiny_whisper_dir: Path) -> WhisperASR:
    return WhisperASR(model=str(tiny_whisper_dir), device="cpu", language=None)


@pytest.fixture(scope="module")
def utterance_pcm() -> np.ndarray:
    pcm, _ = speech_with_silence(["Hello there, how are you today?"], [0.4, 0.4])
    return pcm  # about 3 s


def test_tiny_model_loads_on_cpu_int8(asr: WhisperASR) -> None:
    assert (asr.device, asr.compute_type) == ("cpu", "int8")
    assert set(LANGUAGES) <= set(asr.languages)  # multilingual: it can detect a language


def test_transcribes_generated_speech_with_detected_language(
    asr: WhisperASR, utterance_pcm: np.ndarray
) -> None:
    transcript = asr.transcribe(utterance_of(utterance_pcm))
    assert isinstance(transcript, Transcript)
    assert isinstance(transcript.text, str) and transcript.text == transcript.text.strip()
    assert transcript.language in asr.languages
    assert transcript.asr_s > 0


def test_fixed_language_is_used(tiny_whisper_dir: Path, utterance_pcm: np.ndarray) -> None:
    fixed = WhisperASR(model=str(tiny_whisper_dir), device="cpu", language="de", beam_size=1)
    transcript = fixed.transcribe(
        Utterance(pcm=utterance_pcm, sample_rate=16000, start_s=0.0, end_s=3.0)
    )
    assert transcript.language == "de"


def test_other_rates_are_resampled_and_empty_audio_is_empty_text(asr: WhisperASR) -> None:
    pcm, _ = speech_with_silence(["Seven, eight, nine."], [0.2, 0.2], sample_rate=24000)
    assert asr.transcribe(utterance_of(pcm, 24000)).language in asr.languages
    assert asr.transcribe(utterance_of(np.zeros(0, np.int16))).text == ""
    with pytest.raises(ValueError, match="int16"):
        asr.transcribe(utterance_of(np.zeros(1600, np.float32)))


async def test_atranscribe_keeps_the_event_loop_running(
    asr: WhisperASR, utterance_pcm: np.ndarray
) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    transcript = await asr.atranscribe(utterance_of(utterance_pcm))
    task.cancel()
    assert isinstance(transcript, Transcript)
    assert ticks > 0


def test_missing_model_directory_is_asr_unavailable(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ASRUnavailable) as info:
        WhisperASR(model=str(missing))
    assert info.value.model == str(missing)
    assert str(missing) in str(info.value) and "local" in str(info.value)


def test_named_model_not_downloaded_offline_is_asr_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ASRUnavailable) as info:
        WhisperASR(model="tiny", download_root=tmp_path, local_files_only=True)
    assert info.value.model == "tiny"
    assert "first use" in str(info.value)


def test_unknown_model_name_and_broken_model_are_asr_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ASRUnavailable, match="unknown model name"):
        WhisperASR(model="enormous-v9")
    (tmp_path / "model.bin").write_bytes(b"not a model")
    with pytest.raises(ASRUnavailable, match="could not be loaded"):
        WhisperASR(model=str(tmp_path))


def test_invalid_options_are_refused(tiny_whisper_dir: Path) -> None:
    with pytest.raises(ValueError, match="device"):
        WhisperASR(model=str(tiny_whisper_dir), device="tpu")
    with pytest.raises(ValueError, match="beam_size"):
        WhisperASR(model=str(tiny_whisper_dir), beam_size=0)
    with pytest.raises(ValueError, match="language"):
        WhisperASR(model=str(tiny_whisper_dir), language="xx")


class RecordingModel:
    """Stands in for faster_whisper.WhisperModel to see which device was chosen."""

    calls: list[dict] = []

    def __init__(self, path: str, **kwargs):
        self.calls.append(kwargs)
        self.supported_languages = ["en"]


@pytest.mark.parametrize(("gpus", "expected"), [(0, ("cpu", "int8")), (1, ("cuda", "float16"))])
def test_auto_device_picks_cuda_float16_only_with_a_gpu(
    monkeypatch: pytest.MonkeyPatch, tiny_whisper_dir: Path, gpus: int, expected: tuple
) -> None:
    monkeypatch.setattr(asr_module.ctranslate2, "get_cuda_device_count", lambda: gpus)
    monkeypatch.setattr(asr_module, "WhisperModel", RecordingModel)
    RecordingModel.calls.clear()
    chosen = WhisperASR(model=str(tiny_whisper_dir))
    assert (chosen.device, chosen.compute_type) == expected
    call = RecordingModel.calls[0]
    assert (call["device"], call["compute_type"]) == expected


def test_download_progress_is_shown_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    with caplog.at_level(logging.INFO, logger="actors.engines.asr.whisper"):
        bar = DownloadProgress(total=2048, desc="Downloading model.bin", unit="B", file=out)
        bar.update(1024)
        bar.update(1024)
        bar.close()
    assert "Downloading model.bin" in out.getvalue()  # shown though the file is no terminal
    logged = [r.getMessage() for r in caplog.records if r.name == "actors.engines.asr.whisper"]
    assert logged and "Downloading model.bin" in logged[-1] and "100%" in logged[-1]
