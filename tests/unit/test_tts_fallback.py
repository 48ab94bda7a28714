"""FallbackTTS (timeout + circuit breaker), EdgeTTS's MP3 path, and the TTS registry."""

from __future__ import annotations

import asyncio
import io
import logging
import socket

import aiohttp
import av
import edge_tts
import numpy as np
import pytest

from actors.core.language import is_han
from actors.core.messages import Sentence
from actors.engines.tts import (
    EdgeTTS,
    EspeakTTS,
    FallbackTTS,
    TTSRefused,
    decode_mp3,
    tts_engines,
)
from actors.engines.tts.reachability import HostProbe
from config import EdgeTTSSettings, EspeakTTSSettings, FallbackTTSSettings, Settings
from tests.fakes.clock import FakeClock
from tests.fakes.fake_tts import FakeTTS
from tests.fakes.virtual_time import virtual_time

pytestmark = pytest.mark.unit


def breaker_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "actors.engines.tts.fallback" and r.levelno == logging.WARNING
    ]


@pytest.fixture
def closed_port() -> int:
    # Bind then close: nothing listens on the port, so a connection is refused at once.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mp3_sine(freq_hz: float, seconds: float, rate: int = 24000) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate, layout="mono")
        t = np.arange(int(seconds * rate)) / rate
        samples = (0.5 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buf.getvalue()


def breaker_infos(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "actors.engines.tts.fallback" and r.levelno == logging.INFO
    ]


def dominant_hz(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return float(np.argmax(spectrum) * rate / len(pcm))


# --- acceptance: edge-tts unreachable -------------------------------------------------


@virtual_time
async def test_hanging_primary_first_sentence_falls_back_within_timeout_then_skipped(caplog):
    loop = asyncio.get_running_loop()
    primary = FakeTTS(name="edge", hang=True)
    fallback = FakeTTS(name="espeak")
    tts = FallbackTTS(primary, fallback, timeout_s=0.3, retry_after_s=30.0, clock=loop.time)

    start = loop.time()
    first = await tts.synthesize(Sentence("First sentence."))
    assert first.engine == "espeak"
    assert loop.time() - start == pytest.approx(0.3)  # virtual time: exactly the timeout
    assert tts.breaker_open

    second = await tts.synthesize(Sentence("Second sentence."))
    assert second.engine == "espeak"
    assert primary.calls == ["First sentence."]
    assert fallback.calls == ["First sentence.", "Second sentence."]
    await asyncio.sleep(0.05)  # virtual time: all ready work, the cancellation too, runs first
    assert primary.cancelled == 1  # the hung request was cancelled, not leaked
    warnings = breaker_warnings(caplog)
    assert len(warnings) == 1 and "TimeoutError" in warnings[0]


async def test_real_edge_tts_unreachable_falls_back_to_real_espeak(
    closed_port, monkeypatch, caplog
):
    connections: list[str] = []
    real_communicate = edge_tts.Communicate

    def counting_communicate(text, *args, **kwargs):
        connections.append(text)
        return real_communicate(text, *args, **kwargs)

    # The reachability check off: edge-tts is tried and fails, which is an outage.
    edge = EdgeTTS(proxy=f"http://127.0.0.1:{closed_port}", reachability_check_s=0)
    monkeypatch.setattr(edge_tts, "Communicate", counting_communicate)
    # A timeout no machine reaches: the warning below then shows that edge-tts failed by
    # itself (a refused connection), not by running out of time.
    tts = FallbackTTS(edge, EspeakTTS(), timeout_s=60.0, retry_after_s=30.0)

    first = await tts.synthesize(Sentence("Hello there."))
    assert first.engine == "espeak" and first.sample_rate == 24000
    assert first.duration_s > 0.3
    assert tts.breaker_open
    assert connections == ["Hello there."]

    second = await tts.synthesize(Sentence("How are you?"))
    assert second.engine == "espeak" and second.duration_s > 0.3
    assert connections == ["Hello there."]  # edge-tts was not tried for the second sentence
    warnings = breaker_warnings(caplog)
    assert len(warnings) == 1 and "ClientProxyConnectionError" in warnings[0]


async def test_real_edge_tts_unreachable_raises_connection_error(closed_port):
    edge = EdgeTTS(proxy=f"http://127.0.0.1:{closed_port}", reachability_check_s=0)
    with pytest.raises(aiohttp.ClientConnectionError):
        await edge.synthesize(Sentence("Hello."))


# --- breaker ----------------------------------------------------------------------------


async def test_breaker_closes_after_retry_interval(caplog):
    clock = FakeClock()
    primary = FakeTTS(name="edge", fail_times=1)
    tts = FallbackTTS(primary, FakeTTS(name="espeak"), retry_after_s=30.0, clock=clock)

    assert (await tts.synthesize(Sentence("one"))).engine == "espeak"
    assert tts.breaker_open
    clock.now += 29.0
    assert (await tts.synthesize(Sentence("two"))).engine == "espeak"
    assert tts.breaker_open and primary.calls == ["one"]

    clock.now += 1.0
    assert not tts.breaker_open
    assert (await tts.synthesize(Sentence("three"))).engine == "edge"  # the trial call succeeds
    assert (await tts.synthesize(Sentence("four"))).engine == "edge"
    assert primary.calls == ["one", "three", "four"]
    assert not tts.breaker_open
    assert len(breaker_warnings(caplog)) == 1


async def test_failed_trial_reopens_breaker_with_a_new_warning(caplog):
    clock = FakeClock()
    primary = FakeTTS(name="edge", fail_times=2)
    tts = FallbackTTS(primary, FakeTTS(name="espeak"), retry_after_s=10.0, clock=clock)

    await tts.synthesize(Sentence("one"))
    clock.now += 10.0
    assert (await tts.synthesize(Sentence("two"))).engine == "espeak"  # trial fails
    assert tts.breaker_open
    clock.now += 9.0
    assert (await tts.synthesize(Sentence("three"))).engine == "espeak"
    assert primary.calls == ["one", "two"]
    warnings = breaker_warnings(caplog)
    assert len(warnings) == 2 and all("ConnectionError" in w for w in warnings)


async def test_offline_edge_tts_is_skipped_without_opening_the_breaker(
    closed_port, monkeypatch, caplog
):
    """No route to the service (here: its proxy refuses): a probe says so, edge-tts is not
    called at all, espeak speaks English and Chinese with their own voices, and the breaker
    stays closed: an offline machine is not an outage."""
    edge = EdgeTTS(proxy=f"http://127.0.0.1:{closed_port}")
    connections: list[str] = []
    real_communicate = edge_tts.Communicate
    monkeypatch.setattr(
        edge_tts,
        "Communicate",
        lambda text, *a, **kw: connections.append(text) or real_communicate(text, *a, **kw),
    )
    tts = FallbackTTS(edge, EspeakTTS(), timeout_s=60.0, retry_after_s=30.0)

    english = await tts.synthesize(Sentence("Hello there."))
    chinese = await tts.synthesize(Sentence("请介绍一下你自己。", index=1))
    assert english.engine == chinese.engine == "espeak"
    assert connections == []  # the probe answered; no synthesis was attempted
    assert not tts.breaker_open
    assert tts.primary_unavailable and f"127.0.0.1:{closed_port} unreachable" in (
        tts.primary_unavailable
    )
    assert breaker_warnings(caplog) == [
        f"edge is unavailable ({tts.primary_unavailable}); espeak speaks until it is back "
        "(no outage counted)"
    ]  # once, not per sentence
    assert await tts.unavailable_reason() is None  # espeak is there: the pair still speaks


async def test_primary_back_from_unavailable_is_used_again(caplog):
    caplog.set_level(logging.INFO)
    primary = FakeTTS(name="edge", unavailable="no network")
    tts = FallbackTTS(primary, FakeTTS(name="espeak"))
    assert (await tts.synthesize(Sentence("a"))).engine == "espeak"
    primary.unavailable = None
    assert (await tts.synthesize(Sentence("b"))).engine == "edge"
    assert primary.calls == ["b"] and not tts.breaker_open
    assert "edge is available again" in breaker_infos(caplog)
    assert tts.primary_unavailable is None


@virtual_time
async def test_only_one_trial_call_while_half_open():
    clock = FakeClock()
    primary = FakeTTS(name="edge", fail_times=1)
    tts = FallbackTTS(primary, FakeTTS(name="espeak"), retry_after_s=5.0, clock=clock)
    await tts.synthesize(Sentence("fails"))
    clock.now += 5.0
    primary.delay_s = 0.2
    results = await asyncio.gather(
        tts.synthesize(Sentence("trial")), tts.synthesize(Sentence("meanwhile"))
    )
    assert [a.engine for a in results] == ["edge", "espeak"]
    assert primary.calls == ["fails", "trial"]


async def test_zero_retry_interval_tries_primary_every_time():
    primary = FakeTTS(name="edge", fail_times=2)
    tts = FallbackTTS(primary, FakeTTS(name="espeak"), retry_after_s=0.0)
    engines = [(await tts.synthesize(Sentence(t))).engine for t in ["a", "b", "c"]]
    assert engines == ["espeak", "espeak", "edge"]
    assert len(primary.calls) == 3


@virtual_time
async def test_slow_primary_within_timeout_is_used():
    primary = FakeTTS(name="edge", delay_s=1.9)  # virtual time: just inside the timeout
    tts = FallbackTTS(primary, FakeTTS(name="espeak"), timeout_s=2.0)
    audio = await tts.synthesize(Sentence("hello"))
    assert audio.engine == "edge" and not tts.breaker_open
    assert audio.duration_s == pytest.approx(5 * primary.seconds_per_char, abs=1e-3)


async def test_fallback_failure_propagates():
    tts = FallbackTTS(
        FakeTTS(fail_times=1), FakeTTS(fail_times=1, error=RuntimeError), timeout_s=1.0
    )
    with pytest.raises(RuntimeError, match="scripted failure"):
        await tts.synthesize(Sentence("doomed"))


def test_fallback_options_are_validated():
    with pytest.raises(ValueError, match="timeout_s"):
        FallbackTTSSettings(timeout_s=0)
    with pytest.raises(ValueError, match="retry_after_s"):
        FallbackTTSSettings(retry_after_s=-1)
    with pytest.raises(ValueError, match="sample_rate"):
        FallbackTTS(FakeTTS(sample_rate=24000), FakeTTS(sample_rate=16000))


# --- refusals: this sentence only, the breaker stays closed ------------------------------


async def test_refused_sentence_goes_to_the_fallback_and_the_breaker_stays_closed(caplog):
    caplog.set_level(logging.INFO, logger="actors.engines.tts.fallback")
    clock = FakeClock()
    primary = FakeTTS(name="edge", refuse_languages={"zh"})  # an English voice only
    fallback = FakeTTS(name="espeak")
    tts = FallbackTTS(primary, fallback, retry_after_s=30.0, clock=clock)

    reply = [Sentence("Ray Serve 是一个库。", 0), Sentence("It scales.", 1), Sentence("好。", 2)]
    engines = [(await tts.synthesize(s)).engine for s in reply]
    assert engines == ["espeak", "edge", "espeak"]
    assert not tts.breaker_open
    assert primary.calls == [s.text for s in reply]  # the primary is asked every time
    assert primary.languages == ["zh", "en", "zh"]
    assert fallback.calls == ["Ray Serve 是一个库。", "好。"]
    assert breaker_warnings(caplog) == []
    infos = breaker_infos(caplog)
    assert len(infos) == 2 and "refused sentence 0" in infos[0] and "no voice for 'zh'" in infos[0]


async def test_refusals_never_open_the_breaker_and_the_next_sentence_tries_the_primary():
    primary = FakeTTS(name="edge", fail_times=3, error=TTSRefused)
    tts = FallbackTTS(primary, FakeTTS(name="espeak"), retry_after_s=30.0, clock=FakeClock())
    engines = [(await tts.synthesize(Sentence(t))).engine for t in ["a", "b", "c", "d"]]
    assert engines == ["espeak", "espeak", "espeak", "edge"]
    assert primary.calls == ["a", "b", "c", "d"] and not tts.breaker_open


async def test_an_outage_after_a_refusal_still_opens_the_breaker(caplog):
    primary = FakeTTS(name="edge", fail_times=1, error=TTSRefused)
    tts = FallbackTTS(primary, FakeTTS(name="espeak"), retry_after_s=30.0, clock=FakeClock())
    await tts.synthesize(Sentence("refused"))
    assert not tts.breaker_open
    primary.fail_times, primary.error = 2, ConnectionError
    assert (await tts.synthesize(Sentence("outage"))).engine == "espeak"
    assert tts.breaker_open
    assert (await tts.synthesize(Sentence("skipped"))).engine == "espeak"
    assert primary.calls == ["refused", "outage"]
    warnings = breaker_warnings(caplog)
    assert len(warnings) == 1 and "ConnectionError" in warnings[0]


async def test_a_refused_trial_leaves_the_next_call_a_trial(caplog):
    caplog.set_level(logging.INFO, logger="actors.engines.tts.fallback")
    clock = FakeClock()
    primary = FakeTTS(name="edge", fail_times=1, refuse_languages={"zh"})
    tts = FallbackTTS(primary, FakeTTS(name="espeak"), retry_after_s=10.0, clock=clock)
    await tts.synthesize(Sentence("outage"))
    clock.now += 10.0
    assert (await tts.synthesize(Sentence("你好。"))).engine == "espeak"  # a trial, refused
    assert not tts.breaker_open
    assert not any("breaker closed" in m for m in breaker_infos(caplog))
    assert (await tts.synthesize(Sentence("Hello."))).engine == "edge"  # the next trial
    assert any("breaker closed" in m for m in breaker_infos(caplog))
    assert primary.calls == ["outage", "你好。", "Hello."]
    assert len(breaker_warnings(caplog)) == 1


# --- EdgeTTS: a voice per language; refusals ------------------------------------------------


class LanguageAwareCommunicate:
    """Stands in for the service: MP3 for a voice that can read the text, else what the
    service does for an English voice given Chinese text (no audio)."""

    mp3 = b""
    received: list[tuple[str, str]] = []

    def __init__(self, text, voice, *, proxy=None, connect_timeout=10):
        self.text, self.voice = text, voice
        self.received.append((text, voice))

    async def stream(self):
        if self.voice.startswith("en-") and any(map(is_han, self.text)):
            raise edge_tts.exceptions.NoAudioReceived(
                "No audio was received. Please verify that your parameters are correct."
            )
        yield {"type": "audio", "data": self.mp3}


@pytest.fixture
def fake_service(monkeypatch) -> type[LanguageAwareCommunicate]:
    monkeypatch.setattr(LanguageAwareCommunicate, "mp3", mp3_sine(330.0, 0.5))
    monkeypatch.setattr(LanguageAwareCommunicate, "received", [])
    monkeypatch.setattr(edge_tts, "Communicate", LanguageAwareCommunicate)

    async def reachable(self) -> bool:  # the stand-in service is always there
        return True

    monkeypatch.setattr(HostProbe, "reachable", reachable)
    return LanguageAwareCommunicate


async def test_edge_tts_speaks_each_sentence_with_the_voice_for_its_language(fake_service):
    edge = EdgeTTS()
    assert edge.voices == {"en": "en-US-AriaNeural", "zh": "zh-CN-XiaoxiaoNeural"}
    fake_service.received.clear()  # the constructor's checks of each voice
    for sentence in [Sentence("Ray Serve 是一个库。", 0), Sentence("It scales.", 1)]:
        audio = await edge.synthesize(sentence)
        assert audio.engine == "edge" and audio.duration_s == pytest.approx(0.5, abs=0.1)
    await edge.synthesize(Sentence("Bonjour.", 2, language="fr"))  # no French voice: `voice`
    await edge.synthesize(Sentence("Hello.", 3, language="zh"))  # named: wins over the text
    assert [voice for _, voice in fake_service.received] == [
        "zh-CN-XiaoxiaoNeural",
        "en-US-AriaNeural",
        "en-US-AriaNeural",
        "zh-CN-XiaoxiaoNeural",
    ]


async def test_edge_tts_no_audio_for_the_text_is_a_refusal(fake_service):
    with pytest.raises(TTSRefused, match="no audio for voice 'en-US-AriaNeural'"):
        await EdgeTTS().synthesize(Sentence("你好。", language="en"))


async def test_edge_tts_malformed_voice_at_synthesis_is_a_refusal():
    edge = EdgeTTS()
    edge.voices["zh"] = "not a voice"  # the settings and the constructor check; a later change
    with pytest.raises(TTSRefused, match="not a voice"):
        await edge.synthesize(Sentence("你好。"))
    with pytest.raises(ValueError, match="voice"):
        EdgeTTS(voices={"zh": "not a voice"})


async def test_edge_without_a_chinese_voice_falls_back_per_sentence_only(fake_service, caplog):
    # The case: English voice only, a Chinese sentence, then English ones.
    caplog.set_level(logging.INFO, logger="actors.engines.tts.fallback")
    tts = FallbackTTS(EdgeTTS(voices={}), EspeakTTS(), timeout_s=60.0, retry_after_s=30.0)
    reply = [Sentence("请介绍一下你自己。", 0), Sentence("It scales.", 1), Sentence("Yes.", 2)]
    audio = [await tts.synthesize(s) for s in reply]
    assert [a.engine for a in audio] == ["espeak", "edge", "edge"]
    assert audio[0].duration_s > 1.0  # espeak-ng's cmn voice read it
    assert not tts.breaker_open and breaker_warnings(caplog) == []
    (info,) = breaker_infos(caplog)
    assert "edge refused sentence 0" in info and "en-US-AriaNeural" in info


def test_voice_tables_in_the_settings():
    assert EdgeTTSSettings().voice_table == {
        "en": "en-US-AriaNeural",
        "zh": "zh-CN-XiaoxiaoNeural",
    }
    assert EspeakTTSSettings().voice_table == {"en": "en-us", "zh": "cmn"}
    assert EspeakTTSSettings(voice="en", voices={"zh": "yue"}).voice_table == {
        "en": "en",
        "zh": "yue",
    }
    with pytest.raises(ValueError, match="unknown language 'de'"):
        EdgeTTSSettings(voices={"de": "de-DE-KatjaNeural"})
    with pytest.raises(ValueError, match="spoken by `voice`"):
        EspeakTTSSettings(voices={"en": "en-us"})
    with pytest.raises(ValueError, match="empty"):
        EspeakTTSSettings(voices={"zh": " "})
    with pytest.raises(ValueError, match="voice"):
        EdgeTTSSettings(voice="")


def test_hot_settings_keep_the_voice_table():
    # The TTS deployment's user_config is merged over the settings: naming one voice
    # leaves the others as they were.
    settings = Settings.load({}, env={}).with_overrides(
        {"tts": {"primary": {"voice": "en-GB-RyanNeural"}, "fallback": {"voices": {"zh": "yue"}}}}
    )
    assert settings.tts.primary.voice_table == {
        "en": "en-GB-RyanNeural",
        "zh": "zh-CN-XiaoxiaoNeural",
    }
    assert settings.tts.fallback.voice_table == {"en": "en-us", "zh": "yue"}


# --- EdgeTTS's MP3 path -------------------------------------------------------------------


@pytest.mark.parametrize("rate", [16000, 24000, 48000])
def test_decode_mp3_gives_pcm16_mono_at_requested_rate(rate):
    pcm = decode_mp3(mp3_sine(440.0, 1.0), rate)
    assert pcm.dtype == np.int16 and pcm.ndim == 1
    assert len(pcm) / rate == pytest.approx(1.0, abs=0.1)
    assert dominant_hz(pcm, rate) == pytest.approx(440.0, abs=5.0)


def test_decode_mp3_rejects_empty_data():
    with pytest.raises(ValueError):
        decode_mp3(b"", 24000)


async def test_edge_tts_synthesize_decodes_streamed_chunks(monkeypatch):
    mp3 = mp3_sine(330.0, 0.8)
    received: list[tuple[str, str, str | None]] = []

    class StreamingCommunicate:  # stands in for the service: metadata + MP3 in pieces
        def __init__(self, text, voice, *, proxy=None, connect_timeout=10):
            received.append((text, voice, proxy))

        async def stream(self):
            yield {"type": "SentenceBoundary", "offset": 0, "duration": 1, "text": "x"}
            for start in range(0, len(mp3), 500):
                yield {"type": "audio", "data": mp3[start : start + 500]}

    edge = EdgeTTS(voice="en-GB-SoniaNeural", sample_rate=16000)
    monkeypatch.setattr(edge_tts, "Communicate", StreamingCommunicate)
    audio = await edge.synthesize(Sentence("Hello\x00 world."))
    assert received == [("Hello world.", "en-GB-SoniaNeural", None)]
    assert audio.engine == "edge" and audio.sample_rate == 16000
    assert audio.duration_s == pytest.approx(0.8, abs=0.1)
    assert dominant_hz(audio.pcm, 16000) == pytest.approx(330.0, abs=5.0)


async def test_edge_tts_empty_text_is_silence_without_network(closed_port):
    audio = await EdgeTTS(proxy=f"http://127.0.0.1:{closed_port}").synthesize(Sentence(" \x00 "))
    assert audio.engine == "edge" and len(audio.pcm) > 0 and not np.any(audio.pcm)


def test_edge_tts_rejects_malformed_voice():
    with pytest.raises(ValueError, match="voice"):
        EdgeTTS(voice="not a voice")


# --- the registry builds each engine from its settings ---------------------------------------


def test_registry_builds_each_engine_from_its_settings():
    auto = tts_engines.create(
        FallbackTTSSettings(timeout_s=1.5, retry_after_s=12.0, sample_rate=16000)
    )
    assert isinstance(auto, FallbackTTS)
    assert isinstance(auto.primary, EdgeTTS) and isinstance(auto.fallback, EspeakTTS)
    assert (auto.timeout_s, auto.retry_after_s, auto.sample_rate) == (1.5, 12.0, 16000)
    assert auto.primary.sample_rate == auto.fallback.sample_rate == 16000

    edge = tts_engines.create(EdgeTTSSettings(voice="en-GB-RyanNeural"))
    assert isinstance(edge, EdgeTTS) and edge.voice == "en-GB-RyanNeural"

    espeak = tts_engines.create(EspeakTTSSettings(voice="de", rate_wpm=200))
    assert isinstance(espeak, EspeakTTS)
    assert (espeak.voice, espeak.rate_wpm, espeak.sample_rate) == ("de", 200, 24000)


def test_settings_choose_the_engine_by_name():
    espeak = Settings.load({"tts": {"engine": "espeak", "rate_wpm": 200}}, env={}).tts
    assert isinstance(espeak, EspeakTTSSettings) and espeak.rate_wpm == 200
    nested = Settings.load({"tts": {"primary": {"engine": "espeak"}}}, env={}).tts
    assert isinstance(nested.primary, EspeakTTSSettings)  # a fallback of two espeak engines
    assert sorted(tts_engines.names()) == ["edge", "espeak", "fallback"]
    with pytest.raises(ValueError, match="unknown TTS engine 'festival'"):
        tts_engines.get("festival")


async def test_a_chosen_voice_goes_to_the_engine_that_has_it(fake_service):
    edge, espeak = EdgeTTS(), EspeakTTS()
    tts = FallbackTTS(edge, espeak, timeout_s=60.0)
    assert {"en-US-GuyNeural", "en-us+f3", "cmn+f3"} <= tts.offered
    guy = await tts.synthesize(Sentence("Hello.", voice="en-US-GuyNeural"))
    assert guy.engine == "edge" and fake_service.received[-1] == ("Hello.", "en-US-GuyNeural")
    sent_to_edge = len(fake_service.received)
    female = await tts.synthesize(Sentence("Hello.", voice="en-us+f3"))
    default = await espeak.synthesize(Sentence("Hello."))
    assert female.engine == "espeak" and len(fake_service.received) == sent_to_edge
    assert not np.array_equal(female.pcm, default.pcm)  # another voice, not espeak's default
    assert not tts.breaker_open
