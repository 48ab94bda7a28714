"""``bench/serve_latency.py``'s turns: the scripted LLM, one session's measured turn, and the
web client's playback model that decides whether the turn played in real time.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

from actors.media.aac import AAC_PRIMING_SAMPLES
from actors.media.mp4boxes import aac_end

FIRST_TOKEN_S, TOKENS_PER_S = 0.3, 20.0
REPLY = (
    "Ray Serve runs every stage of this app as its own deployment. The speech engine and the "
    "avatar are shared by all sessions, so one replica serves many people at once. Each "
    "session keeps its history in a small actor of its own. The first sentence is spoken "
    "while the rest of the answer is still being written. That is why the reply starts so "
    "quickly."
)
WARM_UP_REPLY = "Ready."
# A late fragment within this is not counted as a stall (the audio output's own buffer).
STALL_TOLERANCE_S = 0.020
SAMPLE_RATE = 24000  # tts.sample_rate: the time scale of both tracks
START_BUFFER_S = 0.5  # serve_app/static/player.js: START_BUFFER_S
_ASKED = re.compile(r"^\[s(\d+) r(\d+)\]")


@dataclass
class Sample:
    """One session's turn; times are ``time.perf_counter()`` seconds in this process."""

    session: int
    sent: float = 0.0
    llm_request: float = float("nan")
    first_delta: float = float("nan")
    first_sentence_done: float = float("nan")
    first_media: float = float("nan")
    play_start: float = float("nan")
    turn_end: float = float("nan")
    media_s: float = 0.0
    waits: list[tuple[float, float]] = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    @property
    def stalled_at(self) -> list[float]:
        return [at for at, wait in self.waits if wait > STALL_TOLERANCE_S]

    @property
    def stalls(self) -> int:
        return len(self.stalled_at)

    @property
    def stalled_s(self) -> float:
        return sum(wait for _, wait in self.waits)

    @property
    def real_time(self) -> bool:
        return self.stalls == 0 and self.media_s > 0


class ScriptedModel:
    """The fake server's script: records when each benchmark question reached the model."""

    def __init__(self) -> None:
        self.arrivals: dict[tuple[int, int], float] = {}
        self._lock = threading.Lock()

    def __call__(self, messages: list[dict]) -> str:
        now = time.perf_counter()
        asked = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        if m := _ASKED.match(asked):
            with self._lock:
                self.arrivals[int(m[1]), int(m[2])] = now
            return REPLY
        return WARM_UP_REPLY


def audio_end_s(fragment: bytes, sample_rate: int = SAMPLE_RATE) -> float:
    """End (media seconds) of the AAC audio in a fragment; the init segment's edit list
    hides the 1024 priming samples. 0 if the fragment has no audio."""
    end = aac_end(fragment)
    return (end - AAC_PRIMING_SAMPLES) / sample_rate if end else 0.0


def playback_start(fragments: list[tuple[float, float, float]]) -> tuple[int, float]:
    """Index and arrival of the fragment that starts playback: the web client plays once
    ``START_BUFFER_S`` is playable (both tracks), or when the turn's last fragment is in."""
    video = audio = 0.0
    for i, (arrival, video_end, audio_end) in enumerate(fragments):
        video, audio = max(video, video_end), max(audio, audio_end)
        if min(video, audio) >= START_BUFFER_S:
            return i, arrival
    return len(fragments) - 1, fragments[-1][0]


def playback_waits(fragments: list[tuple[float, float, float]]) -> list[tuple[float, float]]:
    """``(media time, seconds)`` of every wait of the playback model over ``(arrival,
    video_end, audio_end)`` fragments: playback starts as ``playback_start`` says; each later
    fragment is due when playback reaches the end of what came before it, and a wait delays
    every later deadline."""
    started, start_at = playback_start(fragments)
    video = audio = playable = stalled = 0.0
    waits: list[tuple[float, float]] = []
    for i, (arrival, video_end, audio_end) in enumerate(fragments):
        due = start_at + playable + stalled
        if i > started and arrival > due:
            waits.append((playable, arrival - due))
            stalled += arrival - due
        video, audio = max(video, video_end), max(audio, audio_end)
        playable = min(video, audio)  # a media element plays only where both tracks are buffered
    return waits


def first_sentence_done(turn, sentence: str) -> float:
    """Arrival of the reply_delta after which the text holds all of ``sentence``."""
    want, text = " ".join(sentence.split()), ""
    for item in turn.items:
        if item.event is not None and item.event["type"] == "reply_delta":
            text += item.event["text"]
            if " ".join(text.split()).startswith(want):
                return item.at
    return float("nan")


async def one_turn(client, index: int, round_no: int, model: ScriptedModel) -> Sample:
    sample = Sample(index)
    sample.sent = time.perf_counter()
    await client.ask(f"[s{index} r{round_no}] What does Ray Serve do in this app?")
    turn = await client.until("turn_end", timeout=300)
    sample.llm_request = model.arrivals.get((index, round_no), float("nan"))
    deltas = [r.at for r in turn.items if r.event and r.event["type"] == "reply_delta"]
    sample.first_delta = deltas[0] if deltas else float("nan")
    sentences = turn.of_type("sentence")
    if sentences:
        sample.first_sentence_done = first_sentence_done(turn, sentences[0]["text"])
    fragments = [
        (r.at, r.header["start_s"] + r.header["duration_s"], audio_end_s(r.payload))
        for r in turn.media
        if r.header["kind"] == "fragment"
    ]
    end = turn.of_type("turn_end")[-1]
    sample.turn_end, sample.media_s, sample.timings = (
        turn.items[-1].at,
        end["media_s"],
        end["timings"],
    )
    if fragments:
        sample.first_media = fragments[0][0]
        sample.play_start = playback_start(fragments)[1]
        sample.waits = playback_waits(fragments)
    return sample
