"""TurnPipeline pacing (``max_lead_s``) and the fragment plan shared with the Avatar stage."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
import pytest

from actors.core.messages import MediaChunk, Sentence, TextDelta, TTSAudio
from actors.media.fragments import FIRST_SENTENCE_CHUNKS, FRAGMENT_FRAMES, fragment_sizes
from actors.pipeline.turn import TurnPipeline
from tests.fakes.fake_tts import FakeTTS
from tests.fakes.virtual_time import virtual_time

pytestmark = pytest.mark.unit
RATE, FPS = 24000, 25


class ClockedEncoder:
    """Records (time, media start s, frames) of every encode call, on the pipeline's clock."""

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self.calls: list[tuple[float, float, int]] = []
        self.frames = 0

    def start(self):
        return MediaChunk(b"init", "init", 0)

    def encode(self, frames, pcm, *, upcoming=None):
        start_s = self.frames / FPS
        self.calls.append((self.clock(), start_s, len(frames)))
        self.frames += len(frames)
        return [MediaChunk(b"f", "fragment", len(self.calls), start_s, len(frames) / FPS)]

    def close(self):
        return []


def pipeline(
    encoder: ClockedEncoder, *, lead: float | None, animate_s_per_frame: float | None = None
) -> TurnPipeline:
    """``animate_s_per_frame``: frames come in 5-frame chunks, each taking this long per frame.

    Run on a virtual-time loop (tests/fakes/virtual_time.py), whose clock the pipeline and
    the encoder share: only the pacing and the animation take any time, and exactly theirs.
    """
    tts = FakeTTS(sample_rate=RATE, seconds_per_char=0.02)  # ~1 s of speech per 50 chars

    async def speak(sentence: Sentence) -> TTSAudio:
        audio = await tts.synthesize(sentence)
        return TTSAudio(audio.pcm, audio.sample_rate, "fake", sentence)

    async def animate(audio: TTSAudio, first_frame: int):
        n = len(audio.pcm) // (RATE // FPS)
        if animate_s_per_frame is None:
            return np.zeros((n, 2, 2, 3), np.uint8)

        async def chunks():
            for at in range(0, n, 5):
                size = min(5, n - at)
                await asyncio.sleep(size * animate_s_per_frame)
                yield np.zeros((size, 2, 2, 3), np.uint8)

        return chunks()

    return TurnPipeline(
        speak=speak,
        animate=animate,
        encoder_factory=lambda: encoder,
        max_lead_s=lead,
        clock=encoder.clock,
    )


async def reply(sentences: int):
    for i in range(sentences):
        yield TextDelta(f"This is sentence number {i} of a reply long enough to pace. ")


@virtual_time
async def test_media_is_encoded_no_earlier_than_the_lead_ahead_of_playback():
    encoder, lead = ClockedEncoder(asyncio.get_running_loop().time), 0.5
    events = [e async for e in pipeline(encoder, lead=lead).run(reply(3))]
    first_at = encoder.calls[0][0]
    total_s = encoder.frames / FPS
    assert total_s > 3 * lead  # long enough for pacing to matter
    for at, start_s, _ in encoder.calls:
        # Playback is assumed to start with the first fragment: each fragment is encoded
        # once its start is within `lead` of that clock, not before and not later (virtual
        # time: nothing but the pacing takes any).
        assert at - first_at == pytest.approx(max(0.0, start_s - lead)), (at - first_at, start_s)
    # The reply text was not held back by pacing: every delta came before the last media.
    kinds = [type(e).__name__ for e in events]
    last_media = max(i for i, k in enumerate(kinds) if k == "MediaChunk")
    assert max(i for i, k in enumerate(kinds) if k == "TextDelta") < last_media


@virtual_time
async def test_without_a_lead_everything_is_encoded_at_once():
    encoder = ClockedEncoder(asyncio.get_running_loop().time)
    [e async for e in pipeline(encoder, lead=None).run(reply(3))]
    assert encoder.frames / FPS > 3  # seconds of playback that pacing would wait for
    # Unpaced, no fragment waits for playback (virtual time: they all leave at once).
    assert {at for at, _, _ in encoder.calls} == {encoder.calls[0][0]}


def test_lead_must_be_positive():
    with pytest.raises(ValueError, match="max_lead_s"):
        TurnPipeline(speak=None, animate=None, encoder_factory=None, max_lead_s=0)


@pytest.mark.parametrize("n_frames", [0, 1, 9, 10, 24, 25, 26, 60, 101])
@pytest.mark.parametrize("first", [True, False])
def test_fragment_sizes_cover_the_sentence(n_frames, first):
    sizes = fragment_sizes(n_frames, first_sentence=first)
    assert sum(sizes) == n_frames and all(s > 0 for s in sizes)
    assert all(s <= FRAGMENT_FRAMES for s in sizes)
    if first and n_frames >= sum(FIRST_SENTENCE_CHUNKS):
        assert tuple(sizes[: len(FIRST_SENTENCE_CHUNKS)]) == FIRST_SENTENCE_CHUNKS
    elif not first and n_frames:
        assert sizes[0] == min(n_frames, FRAGMENT_FRAMES)


@pytest.mark.parametrize("slowdown", [0.5, 1.5])
@virtual_time
async def test_turn_end_timings_estimate_how_long_a_client_waits_for_slow_media(slowdown):
    """Frames made ``slowdown`` times as slow as real time; a client plays from the first."""
    encoder = ClockedEncoder(asyncio.get_running_loop().time)
    events = [
        e
        async for e in pipeline(encoder, lead=None, animate_s_per_frame=slowdown / FPS).run(
            reply(1)
        )
    ]
    stalled = events[-1].timings.seconds["stalled"]
    fragments = [e for e in events if isinstance(e, MediaChunk) and e.kind == "fragment"]
    if slowdown < 1:
        assert stalled == 0.0, stalled  # made ahead of playback: nobody waits
        return
    # Each chunk after the first takes 1.5x its length to make: the last one arrives that
    # long after the first, though the client wants it at its start time (virtual time:
    # exactly).
    made_s = sum(f.duration_s for f in fragments[1:]) * slowdown
    expected = made_s - fragments[-1].start_s
    assert len(fragments) >= 5 and expected > 0.1
    assert stalled == pytest.approx(expected), stalled
