"""TurnPipeline: ordering, overlap, failures and cancellation, with fake stages."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from actors.core.messages import MediaChunk, Sentence, TextDelta, TTSAudio
from actors.pipeline.turn import TurnPipeline
from actors.pipeline.turn_events import SentenceStarted, TurnDone, TurnFailed
from tests.fakes.fake_tts import FakeTTS
from tests.fakes.virtual_time import until, virtual_time

pytestmark = pytest.mark.unit
RATE, FPS = 24000, 25


class FakeEncoder:
    """Records what it is given; emits one chunk per encode call."""

    def __init__(self):
        self.frames = 0
        self.samples = 0

    def start(self):
        return MediaChunk(b"init", "init", 0)

    def encode(self, frames, pcm, *, upcoming=None):
        assert len(pcm) == len(frames) * RATE // FPS
        self.upcoming = upcoming
        self.frames += len(frames)
        self.samples += len(pcm)
        return [MediaChunk(bytes([len(frames) % 256]), "fragment", self.frames)]

    def close(self):
        return []


def make_pipeline(tts, *, animate_delay=None, depth=3, encoders=None):
    async def speak(sentence: Sentence) -> TTSAudio:
        audio = await tts.synthesize(sentence)
        return TTSAudio(audio.pcm, audio.sample_rate, "fake", sentence)

    async def animate(audio: TTSAudio, first_frame: int):
        if animate_delay:
            await asyncio.sleep(animate_delay(audio.sentence.index))
        n = len(audio.pcm) // (RATE // FPS)
        return np.full((n, 4, 4, 3), first_frame % 256, np.uint8)

    def encoder():
        enc = FakeEncoder()
        if encoders is not None:
            encoders.append(enc)
        return enc

    return TurnPipeline(speak=speak, animate=animate, encoder_factory=encoder, depth=depth)


async def deltas(*parts, delay=0.0, fail: Exception | None = None):
    for p in parts:
        await asyncio.sleep(delay)
        yield TextDelta(p)
    if fail is not None:
        raise fail


async def collect(pipe, source):
    return [e async for e in pipe.run(source)]


@virtual_time
async def test_sentences_are_delivered_in_order_even_when_later_ones_finish_first():
    tts = FakeTTS(sample_rate=RATE, seconds_per_char=0.01)
    # the first sentence animates slowest: without ordering it would arrive last (virtual
    # time: the others are certainly done before it, on any machine)
    pipe = make_pipeline(tts, animate_delay=lambda i: 0.2 if i == 0 else 0.0)
    events = await collect(pipe, deltas("One two three. ", "Four five. ", "Six."))
    started = [e for e in events if isinstance(e, SentenceStarted)]
    assert [s.sentence.index for s in started] == [0, 1, 2]
    assert [s.sentence.text for s in started] == ["One two three.", "Four five.", "Six."]
    starts = [s.start_s for s in started]
    assert starts[0] == 0 and starts == sorted(starts)
    done = events[-1]
    assert isinstance(done, TurnDone) and done.text == "One two three. Four five. Six."
    assert abs(done.media_s - (started[-1].start_s + started[-1].duration_s)) < 1e-6


async def test_frames_are_numbered_continuously_across_sentences():
    encoders: list = []
    tts = FakeTTS(sample_rate=RATE, seconds_per_char=0.013)
    pipe = make_pipeline(tts, encoders=encoders)
    events = await collect(pipe, deltas("Alpha beta. ", "Gamma. ", "Delta epsilon zeta."))
    started = [e for e in events if isinstance(e, SentenceStarted)]
    enc = encoders[0]
    assert enc.samples == enc.frames * RATE // FPS  # every sentence padded to whole frames
    assert enc.frames == round(sum(s.duration_s for s in started) * FPS)


@virtual_time
async def test_stages_overlap():
    loop = asyncio.get_running_loop()
    tts = FakeTTS(sample_rate=RATE, delay_s=0.2)
    pipe = make_pipeline(tts, depth=3)
    t0 = loop.time()
    await collect(pipe, deltas("A one. ", "B two. ", "C three."))
    # Virtual time, where only the syntheses take any: three 0.2 s ones ran at once (in
    # sequence they would take 0.6 s, two at a time 0.4 s).
    assert loop.time() - t0 == pytest.approx(0.2)


@virtual_time
async def test_depth_bounds_the_sentences_in_flight():
    loop = asyncio.get_running_loop()
    tts = FakeTTS(sample_rate=RATE, delay_s=0.2)
    t0 = loop.time()
    await collect(make_pipeline(tts, depth=2), deltas("A one. ", "B two. ", "C three."))
    assert loop.time() - t0 == pytest.approx(0.4)  # two at once, then the third


async def test_a_failed_text_source_delivers_what_was_spoken_then_fails():
    tts = FakeTTS(sample_rate=RATE)
    err = RuntimeError("stream broke")
    err.code = "llm_stream_error"
    events = await collect(make_pipeline(tts), deltas("First one. ", "Second", fail=err))
    failed = [e for e in events if isinstance(e, TurnFailed)]
    assert failed and failed[0].code == "llm_stream_error"
    assert [e.sentence.text for e in events if isinstance(e, SentenceStarted)] == ["First one."]
    assert isinstance(events[-1], TurnDone)


async def test_a_failed_sentence_is_skipped_and_the_turn_goes_on():
    tts = FakeTTS(sample_rate=RATE, fail_times=1)
    events = await collect(make_pipeline(tts, depth=1), deltas("Bad one. ", "Good one."))
    assert any(isinstance(e, TurnFailed) and e.code == "tts_error" for e in events)
    assert [e.sentence.text for e in events if isinstance(e, SentenceStarted)] == ["Good one."]


@virtual_time
async def test_cancelling_the_consumer_cancels_all_stages_and_closes_the_source():
    tts = FakeTTS(sample_rate=RATE, delay_s=5.0)
    closed = asyncio.Event()

    async def source():
        try:
            yield TextDelta("One. ")
            yield TextDelta("Two. ")
            await asyncio.sleep(10)
        finally:
            closed.set()

    async def consume():
        async for _ in make_pipeline(tts).run(source()):
            pass

    task = asyncio.create_task(consume())
    await until(lambda: tts.calls)  # a synthesis is under way
    assert not closed.is_set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.wait_for(closed.wait(), 1.0)
    assert tts.cancelled == len(tts.calls) >= 1  # every synthesis under way was cancelled


async def test_reply_deltas_are_passed_through_before_media():
    tts = FakeTTS(sample_rate=RATE)
    events = await collect(make_pipeline(tts), deltas("Hi ", "there."))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hi ", "there."]
    first_media = next(i for i, e in enumerate(events) if isinstance(e, MediaChunk))
    assert isinstance(events[0], TextDelta) and first_media > 0


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth"):
        TurnPipeline(speak=None, animate=None, encoder_factory=None, depth=0)
