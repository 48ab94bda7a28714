"""EspeakTTS: the real espeak-ng library from the espeakng-loader wheel, through ctypes."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from actors.core.messages import Sentence
from actors.engines.tts.base import SILENCE_S, speakable_text
from actors.engines.tts.espeak import EspeakTTS

pytestmark = pytest.mark.unit


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))


@pytest.mark.parametrize("sample_rate", [24000, 16000])
async def test_hello_world_is_speech_at_the_requested_rate(sample_rate):
    audio = await EspeakTTS(sample_rate=sample_rate).synthesize(Sentence("Hello world."))
    assert audio.engine == "espeak"
    assert audio.sample_rate == sample_rate
    assert audio.pcm.dtype == np.int16 and audio.pcm.ndim == 1
    assert 0.5 < audio.duration_s < 3.0
    assert rms(audio.pcm) > 500  # silence is 0; speech here is in the thousands


async def test_default_rate_is_24000_and_rates_agree_on_duration():
    tts_24k, tts_16k = EspeakTTS(), EspeakTTS(sample_rate=16000)
    assert tts_24k.sample_rate == 24000
    a = await tts_24k.synthesize(Sentence("The quick brown fox jumps over the lazy dog."))
    b = await tts_16k.synthesize(Sentence("The quick brown fox jumps over the lazy dog."))
    assert a.duration_s == pytest.approx(b.duration_s, rel=0.1)


async def test_rate_wpm_changes_speaking_speed():
    text = "Speaking slowly takes longer than speaking fast."
    slow = await EspeakTTS(rate_wpm=100).synthesize(Sentence(text))
    fast = await EspeakTTS(rate_wpm=300).synthesize(Sentence(text))
    assert slow.duration_s > 1.8 * fast.duration_s


@pytest.mark.parametrize(
    "text",
    [
        "你好，世界。",
        "Great news 🎉😀👍🏽 today!",
        "مرحبا بالعالم",
        "bell\x07 nul\x00 escape\x1b[31m tab\t newline\n end",
        "\u202eright-to-left override\u202c and zero\u200bwidth",
        "lone surrogate \ud800 here",
        "<speak>not ssml & stuff</speak>",
    ],
)
async def test_unusual_unicode_does_not_crash(text):
    audio = await EspeakTTS().synthesize(Sentence(text))
    assert audio.sample_rate == 24000 and audio.pcm.dtype == np.int16
    assert audio.duration_s > 0.3 and rms(audio.pcm) > 100


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01\x02", "\u200b\u200f"])
async def test_nothing_to_speak_gives_short_silence(text):
    audio = await EspeakTTS(sample_rate=16000).synthesize(Sentence(text))
    assert len(audio.pcm) == round(16000 * SILENCE_S)
    assert not np.any(audio.pcm)


def test_speakable_text_removes_control_and_format_characters():
    assert speakable_text("a\x00b\tc\n\x1bd") == "a b c d"
    assert speakable_text("x\u200by\u202ez\ud800") == "xyz"
    assert speakable_text("你好 😀 مرحبا") == "你好 😀 مرحبا"


def test_options_are_validated():
    with pytest.raises(ValueError, match="rate_wpm"):
        EspeakTTS(rate_wpm=20)
    with pytest.raises(ValueError, match="sample_rate"):
        EspeakTTS(sample_rate=1000)
    with pytest.raises(ValueError, match="no voice named"):
        EspeakTTS(voice="no-such-voice-xx")


async def test_other_voice_after_failed_voice_still_works():
    with pytest.raises(ValueError):
        EspeakTTS(voice="no-such-voice-xx")
    audio = await EspeakTTS(voice="de").synthesize(Sentence("Guten Tag."))
    assert rms(audio.pcm) > 500


def test_concurrent_threads_with_different_options_get_their_own_speech():
    # espeak-ng's global voice/rate must not leak between threads: a slow and a fast
    # engine, called at once from many threads, each keep their own speaking speed.
    slow, fast = EspeakTTS(rate_wpm=90), EspeakTTS(rate_wpm=400, sample_rate=16000)
    text = "Several threads are speaking at the same time."
    reference = {
        id(slow): slow.synthesize_blocking(text).duration_s,
        id(fast): fast.synthesize_blocking(text).duration_s,
    }
    engines = [slow, fast] * 4

    def speak(engine: EspeakTTS):
        return engine, asyncio.run(engine.synthesize(Sentence(text)))

    with ThreadPoolExecutor(max_workers=len(engines)) as pool:
        results = list(pool.map(speak, engines))
    assert len(results) == len(engines)
    for engine, audio in results:
        assert audio.sample_rate == engine.sample_rate
        assert audio.duration_s == pytest.approx(reference[id(engine)], rel=0.05)
        assert rms(audio.pcm) > 500


# --- a voice per language ---------------------------------------------------------------


async def test_chinese_is_spoken_by_cmn_much_faster_than_by_en_us():
    # en-us reads each Han character as "Chinese letter" (issue #12); cmn reads it as one
    # syllable. Compared as a ratio, so a slow or fast machine does not matter.
    tts = EspeakTTS()
    text = "你好！请介绍一下你自己。"
    auto = await tts.synthesize(Sentence(text))  # detected: zh
    as_english = await tts.synthesize(Sentence(text, language="en"))  # named: wins
    assert tts.voice_for(Sentence(text)) == "cmn"
    assert tts.voice_for(Sentence(text, language="en")) == "en-us"
    assert rms(auto.pcm) > 500
    assert auto.duration_s < 0.7 * as_english.duration_s
    cmn = await EspeakTTS(voice="cmn").synthesize(Sentence(text, language="en"))
    assert auto.duration_s == pytest.approx(cmn.duration_s, rel=0.05)  # the same voice


async def test_a_mixed_reply_gets_a_voice_per_sentence():
    tts = EspeakTTS()
    reply = [Sentence("Ray Serve 是一个库。", 0), Sentence("It scales.", 1), Sentence("好。", 2)]
    assert [tts.voice_for(s) for s in reply] == ["cmn", "en-us", "cmn"]
    spoken = [await tts.synthesize(s) for s in reply]
    # Each sentence alone, by an engine whose `voice` speaks it as the one language named.
    voices = ["cmn", "en-us", "cmn"]
    alone = [
        await EspeakTTS(voice=v).synthesize(Sentence(s.text, language="en"))
        for v, s in zip(voices, reply, strict=True)
    ]
    for audio, reference in zip(spoken, alone, strict=True):
        assert audio.duration_s == pytest.approx(reference.duration_s, rel=0.05)
        assert rms(audio.pcm) > 500


async def test_voices_table_is_configurable_and_unknown_languages_use_voice(caplog):
    tts = EspeakTTS(voice="en", voices={"zh": "yue"})
    assert tts.voices == {"en": "en", "zh": "yue"}
    assert tts.voice_for(Sentence("你好。")) == "yue"
    assert tts.voice_for(Sentence("Hello.")) == "en"
    with caplog.at_level("DEBUG", logger="actors.engines.tts.base"):
        assert tts.voice_for(Sentence("Bonjour.", language="fr")) == "en"
    assert any("no voice for language 'fr'" in r.getMessage() for r in caplog.records)
    audio = await tts.synthesize(Sentence("你好。"))
    assert rms(audio.pcm) > 500


def test_every_voice_in_the_table_is_checked_at_construction():
    with pytest.raises(ValueError, match="no voice named 'no-such-voice-xx'"):
        EspeakTTS(voices={"zh": "no-such-voice-xx"})
    with pytest.raises(ValueError, match="unknown language 'xx'"):
        EspeakTTS(voices={"xx": "cmn"})
