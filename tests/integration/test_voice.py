"""Voice input over the socket: VAD in the session, the ASR deployment, barge-in."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from config import Settings
from tests.fakes.speech import speech_with_silence
from tests.serve_fixtures import DEFAULT_ARGS
from tests.ws_client import ChatClient

pytestmark = pytest.mark.integration
CHUNK = 640  # 20 ms of PCM16 at 16 kHz
_SERVER = Settings.load(DEFAULT_ARGS).server  # what the app_url app runs with


@pytest.fixture(scope="module")
def question_pcm() -> np.ndarray:
    pcm, _ = speech_with_silence(["What is the weather like today?"], [0.3, 1.0])
    return pcm


def send_interval(message_bytes: int, *, realtime_s: float = 0.0) -> float:
    """Seconds between audio messages: at least ``realtime_s``, and inside the server's
    message and byte rate limits with a margin. A minimum spacing, so a fast machine never
    sends faster than the server takes (over the limit, messages are dropped)."""
    floor = max(1 / _SERVER.max_messages_per_s, message_bytes / _SERVER.max_bytes_per_s)
    return max(realtime_s, 1.25 * floor)


async def stream(
    c: ChatClient, pcm: np.ndarray, *, realtime: bool = False, chunk: int = CHUNK
) -> None:
    data = pcm.astype("<i2").tobytes()
    pause = send_interval(chunk * 2, realtime_s=chunk / 16000 if realtime else 0.0)
    for at in range(0, len(data), chunk * 2):
        await c.send(data[at : at + chunk * 2])
        await asyncio.sleep(pause)


async def test_session_reports_voice_input_available(app_url):
    async with ChatClient(app_url) as c:
        assert c.hello["voice_input"]["available"] is True


async def test_a_spoken_question_gets_a_transcript_and_a_reply(app_url, question_pcm):
    async with ChatClient(app_url) as c:
        await stream(c, question_pcm)
        turn = await c.until("turn_end", timeout=60)
    kinds = [e["type"] for e in turn.events]
    assert (
        kinds.index("speech_started")
        < kinds.index("speech_ended")
        < kinds.index("transcript")
        < kinds.index("turn_start")
    )
    transcript = turn.of_type("transcript")[0]
    assert transcript["text"] == "What is the weather like?"
    assert 0.2 < transcript["start_s"] < transcript["end_s"]
    ended = turn.of_type("speech_ended")[0]
    assert (ended["start_s"], ended["end_s"]) == (transcript["start_s"], transcript["end_s"])
    assert turn.of_type("turn_start")[0]["text"] == "What is the weather like?"
    assert len(turn.media) >= 2


async def test_speaking_while_the_avatar_talks_interrupts_it(app_url, question_pcm):
    long_text = " ".join(f"Here is sentence number {i} of a long reply." for i in range(10))
    async with ChatClient(app_url) as c:
        await c.ask(long_text)
        turn = await c.until("sentence")
        while not any(r.is_media and r.header["kind"] == "fragment" for r in turn.items):
            turn.items.append(await c.recv())
        turn_id = turn.events[0]["turn_id"]
        silence = np.zeros(16000 // 2, np.int16)
        await stream(c, np.concatenate([silence, question_pcm]), realtime=True)
        got = await c.until("turn_end", timeout=60)
        events = got.events
        interrupted = [e for e in events if e["type"] == "interrupted"]
        assert interrupted and interrupted[0]["turn_id"] == turn_id
        assert interrupted[0]["reason"] == "barge_in"
        idx = got.items.index(next(r for r in got.items if r.event is interrupted[0]))
        assert not any(r.is_media and r.header["turn_id"] == turn_id for r in got.items[idx:])
        # the spoken question then gets its own reply
        assert got.of_type("turn_end")[0]["turn_id"] != turn_id


async def test_long_silence_starts_no_turn_and_the_session_stays_usable(app_url, question_pcm):
    async with ChatClient(app_url) as c:
        # Two minutes of silence in one-second messages, then a question. The VAD takes the
        # audio in order, so whatever the silence set off would come before the question's
        # events: no quiet period to wait out, and no clock to read.
        await stream(c, np.zeros(16000 * 120, np.int16), chunk=16000)
        await stream(c, question_pcm)
        got = await c.until("turn_end", timeout=120)
    kinds = [e["type"] for e in got.events]
    assert not got.of_type("error"), got.of_type("error")  # e.g. no audio dropped as too fast
    voice = [k for k in kinds if k in ("speech_started", "speech_ended", "transcript")]
    assert voice == ["speech_started", "speech_ended", "transcript"], kinds
    transcript = got.of_type("transcript")[0]
    assert transcript["start_s"] > 120, transcript  # the question, after all the silence
    assert got.of_type("turn_start")[0]["text"] == "What is the weather like?"
    assert len(got.media) >= 2
