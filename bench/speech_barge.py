"""``bench/speech.py``'s barge-in trials: real-time microphone streaming into a live session.

Each trial interrupts a long reply with a spoken question; a local replica of the session's
VAD, fed the same chunks, splits the measured latency into its parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from dataclasses import dataclass

import numpy as np

from bench.speech_cost import CHUNK, CHUNK_S, RATE

LONG_TEXT = " ".join(f"Here is sentence number {i} of a long reply." for i in range(12))
QUESTIONS = [
    "Wait, I have a question.",
    "Sorry, can I ask something else?",
    "Hold on, what about tomorrow?",
    "Excuse me, one more thing.",
    "What is the weather like today?",
]
TAIL_S = 1.0  # silence after the question: ends the utterance (min_silence_ms 500)


@dataclass
class Trial:
    interrupted: bool
    to_interrupted_ms: float = float("nan")  # onset -> `interrupted` event
    to_last_media_ms: float = float("nan")  # onset -> last media of the interrupted turn
    model_lag_ms: float = float("nan")  # onset -> start of the first window over threshold
    run_ms: float = float("nan")  # speech the VAD had to see from that window on
    to_detect_sent_ms: float = float("nan")  # onset -> send of the chunk completing the run
    server_ms: float = float("nan")  # that send -> `interrupted` event
    # send of the chunk completing min_speech_ms -> `speech_started`: the same hops, no cancel
    event_path_ms: float = float("nan")
    # that send -> pong to a ping sent right after it: audio queued in the ingress + the
    # the session's handling of the detecting chunk (VAD, cancelling the turn)
    pong_ms: float = float("nan")
    media_after_onset: bool = False
    load: float = float("nan")  # 1-minute load average when the trial started


class Inbox:
    """Every message from the server, with arrival times, read by a background task."""

    def __init__(self, client) -> None:
        self.items: list = []
        self._new = asyncio.Event()
        self._task = asyncio.create_task(self._read(client))

    async def _read(self, client) -> None:
        while True:
            self.items.append(await client.recv(timeout=3600))
            self._new.set()

    async def wait(self, match, start: int = 0, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        i = start
        while True:
            for item in self.items[i:]:
                if match(item):
                    return item
            i = len(self.items)
            self._new.clear()
            await asyncio.wait_for(self._new.wait(), max(0.01, deadline - time.monotonic()))

    async def quiet(self, quiet_s: float = 0.4) -> None:
        while True:
            n = len(self.items)
            await asyncio.sleep(quiet_s)
            if len(self.items) == n:
                return

    def close(self) -> None:
        self._task.cancel()


def _event(kind: str, turn_id: str | None = None, not_turn: str | None = None):
    def match(r) -> bool:
        e = r.event
        return (
            e is not None
            and e["type"] == kind
            and (turn_id is None or e.get("turn_id") == turn_id)
            and (not_turn is None or e.get("turn_id") != not_turn)
        )

    return match


async def stream_realtime(client, pcm: np.ndarray, ping_after: int | None = None) -> list[float]:
    """Send 20 ms chunks on a wall-clock schedule; returns each chunk's send time. A ping
    follows chunk ``ping_after``: the ingress handles messages one by one, so its pong
    leaves only once every audio message before it has been through the session."""
    data = pcm.astype("<i2").tobytes()
    sent: list[float] = []
    start = time.perf_counter()
    for k, at in enumerate(range(0, len(data), CHUNK * 2)):
        delay = start + k * CHUNK_S - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(time.perf_counter())
        await client.send(data[at : at + CHUNK * 2])
        if k == ping_after:
            await client.send({"type": "ping"})
    return sent


class VADReplica:
    """The session's VAD rebuilt locally and fed the same chunks: when the run was long enough."""

    def __init__(self, vad_settings) -> None:
        from actors.engines.vad.silero import SileroVAD

        self.barge_in_ms = vad_settings.barge_in_ms
        self.vad = SileroVAD.from_settings(vad_settings)
        self.fed = 0  # samples fed so far: the stream offset of the next trial

    def detect(self, pcm: np.ndarray) -> tuple[tuple[int, int, int] | None, int | None]:
        """``((chunk index, trigger sample, detection sample), speech_started chunk index)``
        (trial-local): the first chunk after which the run reaches ``barge_in_ms``, and the
        first one whose feed emits ``SpeechStarted``; None where none does."""
        from actors.core.messages import SpeechStarted

        offset, found, started = self.fed, None, None
        for k, at in enumerate(range(0, len(pcm), CHUNK)):
            events = self.vad.feed(pcm[at : at + CHUNK])
            if started is None and any(isinstance(e, SpeechStarted) for e in events):
                started = k
            run = self.vad.speech_run_ms
            if found is None and run >= self.barge_in_ms:
                scored = round(self.vad.stream_s * RATE)
                found = (k, scored - round(run * RATE / 1000) - offset, scored - offset)
        self.fed += len(pcm)
        return found, started


async def one_trial(client, inbox: Inbox, replica: VADReplica, rng: random.Random, n: int):
    from tests.fakes.speech import speech_with_silence

    start, load = len(inbox.items), os.getloadavg()[0]
    await client.ask(LONG_TEXT)
    turn_id = (await inbox.wait(_event("turn_start"), start)).event["turn_id"]
    await inbox.wait(
        lambda r: r.is_media and r.header["turn_id"] == turn_id and r.header["kind"] == "fragment",
        start,
    )
    gap = rng.uniform(0.3, 0.8)
    pcm, truth = speech_with_silence([QUESTIONS[n % len(QUESTIONS)]], [gap, TAIL_S])
    onset = round(truth[0][0] * RATE)
    # The replica is deterministic: run it before streaming, off the clock, to place the ping.
    detect, started = replica.detect(pcm)
    sent = await stream_realtime(client, pcm, ping_after=detect[0] if detect else None)
    onset_at = sent[onset // CHUNK] + (onset % CHUNK) / RATE
    try:
        stop = await inbox.wait(_event("interrupted", turn_id), start, timeout=5)
    except TimeoutError:
        await client.send({"type": "interrupt"})
        await asyncio.sleep(1.0)
        await client.send({"type": "interrupt"})  # the spoken question's reply, if queued
        await inbox.quiet(1.0)
        return Trial(interrupted=False, load=load)
    await inbox.wait(_event("turn_end", not_turn=turn_id), start, timeout=60)
    await inbox.quiet()
    media = [r.at for r in inbox.items[start:] if r.is_media and r.header["turn_id"] == turn_id]
    last_media = max(media)
    trial = Trial(
        interrupted=True,
        to_interrupted_ms=1000 * (stop.at - onset_at),
        to_last_media_ms=max(0.0, 1000 * (last_media - onset_at)),
        media_after_onset=last_media > onset_at,
        load=load,
    )
    if detect is not None:
        k, trigger, detected = detect
        trial.model_lag_ms = 1000 * (trigger - onset) / RATE
        trial.run_ms = 1000 * (detected - trigger) / RATE
        trial.to_detect_sent_ms = 1000 * (sent[k] - onset_at)
        trial.server_ms = 1000 * (stop.at - sent[k])
        pong = next((r for r in inbox.items[start:] if _event("pong")(r)), None)
        if pong is not None:
            trial.pong_ms = 1000 * (pong.at - sent[k])
    heard = next((r for r in inbox.items[start:] if _event("speech_started")(r)), None)
    if started is not None and heard is not None:
        trial.event_path_ms = 1000 * (heard.at - sent[started])
    return trial


async def interleaved_trials(urls: dict[int, str], counts: dict[int, int], seed: int):
    """One session per app (keyed by barge_in_ms); trials alternate between them evenly, so
    a change in the machine's load hits every setting alike."""
    from config import Settings
    from tests.ws_client import ChatClient

    sessions: dict[int, tuple] = {}
    results: dict[int, list[Trial]] = {ms: [] for ms in urls}
    try:
        for ms, url in urls.items():
            client = await ChatClient(url).__aenter__()
            if not client.hello["voice_input"]["available"]:
                raise RuntimeError(f"voice input unavailable: {client.hello['voice_input']}")
            vad = Settings.load({"vad": {"barge_in_ms": ms}}, env={}).vad
            # The same seed everywhere: trial n has the same gap and question in every setting.
            sessions[ms] = (client, Inbox(client), VADReplica(vad), random.Random(seed))
            warm = await one_trial(*sessions[ms], 0)  # warms the session's paths: not counted
            print(f"  barge_in_ms={ms} warm-up: {_line(warm)}", flush=True)
        schedule = sorted((n / counts[ms], k, ms) for k, ms in enumerate(urls)
                          for n in range(counts[ms]))  # fmt: skip
        for _, _, ms in schedule:
            trial = await one_trial(*sessions[ms], len(results[ms]) + 1)
            results[ms].append(trial)
            print(f"  barge_in_ms={ms} trial {len(results[ms])}: {_line(trial)}", flush=True)
    finally:
        for client, inbox, _, _ in sessions.values():
            inbox.close()
            await client.__aexit__(None, None, None)
    return results


def _line(t: Trial) -> str:
    if not t.interrupted:
        return f"NOT interrupted (load {t.load:.1f})"
    return (
        f"->interrupted {t.to_interrupted_ms:.0f} ms, ->last media {t.to_last_media_ms:.0f} ms,"
        f" lag {t.model_lag_ms:.0f} + run {t.run_ms:.0f} ms of audio,"
        f" detect chunk sent {t.to_detect_sent_ms:.0f} ms, server {t.server_ms:.0f} ms"
        f" (pong {t.pong_ms:.0f} ms, speech_started path {t.event_path_ms:.0f} ms),"
        f" load {t.load:.1f}"
    )


def run_barge_in(args) -> dict[int, list[Trial]]:
    from config import Settings
    from tests.serve_fixtures import running_app

    default_ms = Settings.load({}, env={}).vad.barge_in_ms
    counts = {default_ms: args.trials}
    counts.update({ms: args.sweep_trials for ms in args.sweep if ms != default_ms})
    t0 = time.perf_counter()
    with running_app(num_cpus=args.num_cpus) as base, contextlib.ExitStack() as apps:
        urls = {default_ms: base}
        for ms in counts:
            if ms != default_ms:  # a separate app on the same Ray: its sessions get this value
                urls[ms] = apps.enter_context(
                    running_app(
                        {"vad": {"barge_in_ms": ms}}, name=f"speech-bi{ms}", route_prefix=f"/bi{ms}"
                    )
                )
        print(f"  {len(urls)} apps up in {time.perf_counter() - t0:.0f} s", flush=True)
        return asyncio.run(interleaved_trials(urls, counts, args.seed))
