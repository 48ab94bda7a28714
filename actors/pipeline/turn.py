"""One reply turn: text deltas in, ordered events and encoded media out.

``TextDelta -> Sentence -> TTSAudio -> VideoFrames -> MediaChunk``, with the
stages overlapped: while sentence k is being encoded, sentence k+1 is being
animated and k+2 synthesised (up to ``depth`` sentences in flight). Delivery is
strictly in order. The same class runs in the CLI (stages in threads) and in the
session on its host (stages are Serve deployment calls): only the callables differ.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import numpy as np

from actors.core.errors import ErrorCode
from actors.core.messages import (
    MediaChunk,
    Sentence,
    StageTimings,
    TextDelta,
    TTSAudio,
    pad_to_frames,
)
from actors.media.fragments import fragment_sizes, split_frames
from actors.pipeline.splitter import SentenceSplitter
from actors.pipeline.turn_events import SentenceStarted, TurnDone, TurnEvent, TurnFailed

# Lateness below this is timer and scheduling noise, not a wait anyone would see.
STALL_SLACK_S = 0.02
log = logging.getLogger("avatar_chat.turn")

SpeakFn = Callable[[Sentence], Awaitable[TTSAudio]]
# An animator returns all frames of a sentence, or an async iterator of frame chunks that
# are encoded as they arrive (so the first frames leave before the sentence is done).
AnimateFn = Callable[[TTSAudio, int], Awaitable[np.ndarray | AsyncIterator[np.ndarray]]]


class TurnPipeline:
    """``TextDelta stream -> TurnEvent stream`` (deltas, sentences, media, end).

    ``max_lead_s`` paces a live turn: a sentence is animated, and a fragment encoded, only
    once its media starts within that many seconds of the client's playback (assumed to
    start with the first fragment). Without pacing every session renders its whole reply
    at once, and on a shared machine those bursts starve the sessions that are just
    starting; with it the CPU follows playback. ``None`` (files, the CLI): as fast as possible.
    ``clock`` (seconds) times pacing, stalls and stage timings; tests inject a virtual one.
    """

    def __init__(
        self,
        *,
        speak: SpeakFn,
        animate: AnimateFn,
        encoder_factory: Callable[[], object],
        splitter_factory: Callable[[], SentenceSplitter] = SentenceSplitter,
        fps: int = 25,
        depth: int = 3,
        max_lead_s: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if max_lead_s is not None and not max_lead_s > 0:
            raise ValueError(f"max_lead_s must be positive or None, got {max_lead_s}")
        self._speak = speak
        self._animate = animate
        self._encoder_factory = encoder_factory
        self._splitter_factory = splitter_factory
        self._fps = fps
        self._depth = depth
        self._max_lead_s = max_lead_s
        self._clock = clock

    async def run(
        self, deltas: AsyncIterator[TextDelta], *, turn_id: str = ""
    ) -> AsyncIterator[TurnEvent]:
        """Yield events in order: each of ``deltas`` (an LLM's reply) as it arrives, then the
        sentences' events and media, ``TurnDone`` last. A failing ``deltas`` ends the text
        with ``TurnFailed`` (its ``code``, else text_error); ``deltas`` is closed at the end.
        Cancelling the consumer cancels every stage of the turn."""
        out: asyncio.Queue[TurnEvent | None] = asyncio.Queue()
        run = _TurnRun(self, out, turn_id)
        task = asyncio.create_task(run.main(deltas))
        try:
            while (event := await out.get()) is not None:
                yield event
        finally:
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class _TurnRun:
    """State of one running turn (kept apart so a pipeline can run many turns)."""

    def __init__(self, pipe: TurnPipeline, out: asyncio.Queue, turn_id: str) -> None:
        self.pipe = pipe
        self.out = out
        self.turn_id = turn_id
        self.clock = pipe._clock
        self.timings = StageTimings()
        self.slots = asyncio.Semaphore(pipe._depth)
        self.t0 = self.clock()
        self.playing_since = 0.0  # when the first fragment left, once `playing` is set
        self.playing = asyncio.Event()

    async def _pace(self, media_at: float) -> None:
        """Wait until media starting at ``media_at`` s is within the lead of playback."""
        lead = self.pipe._max_lead_s
        if lead is None or media_at <= lead:
            return
        await self.playing.wait()  # playback has not started: everything after it waits
        wait = media_at - lead - (self.clock() - self.playing_since)
        if wait > 0:
            await asyncio.sleep(wait)

    async def main(self, deltas: AsyncIterator[TextDelta]) -> None:
        pending: asyncio.Queue[asyncio.Task | None] = asyncio.Queue()
        deliver = asyncio.create_task(self._deliver(pending))
        tasks: list[asyncio.Task] = []
        text_parts: list[str] = []
        failure: TurnFailed | None = None
        try:
            splitter = self.pipe._splitter_factory()
            prev_end: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            prev_end.set_result(0)
            try:
                async for delta in deltas:
                    if "first_text" not in self.timings.seconds:
                        self.timings.add("first_text", self.clock() - self.t0)
                    text_parts.append(delta.text)
                    await self.out.put(delta)
                    for sentence in splitter.push(delta):
                        prev_end = await self._launch(sentence, prev_end, tasks, pending)
                for sentence in splitter.flush():
                    prev_end = await self._launch(sentence, prev_end, tasks, pending)
            except Exception as exc:  # the text source failed: deliver what is already spoken
                failure = TurnFailed(getattr(exc, "code", ErrorCode.TEXT_ERROR), str(exc))
            await pending.put(None)
            media_s = await deliver
            if failure is not None:
                await self.out.put(failure)
            await self.out.put(TurnDone("".join(text_parts), media_s, self.timings))
        finally:
            if hasattr(deltas, "aclose"):  # releases the LLM's HTTP stream at once on interrupt
                await deltas.aclose()
            for t in [*tasks, deliver]:
                t.cancel()
            await asyncio.gather(*tasks, deliver, return_exceptions=True)
            await self.out.put(None)

    async def _launch(self, sentence, prev_end, tasks, pending):
        end: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._render(sentence, prev_end, end))
        tasks.append(task)
        await pending.put(task)
        return end

    async def _render(self, sentence: Sentence, prev_end: asyncio.Future, end: asyncio.Future):
        """Speak and animate one sentence; frames are numbered after the previous sentence's."""
        try:
            # Bounded look-ahead: at most `depth` sentences in flight. Taken here, not in
            # _launch, so the reply text keeps streaming while sentences wait.
            await self.slots.acquire()
            t = self.clock()
            stage = ErrorCode.TTS_ERROR
            audio = await self.pipe._speak(sentence)
            stage = ErrorCode.AVATAR_ERROR
            self.timings.add("tts", self.clock() - t)
            pcm = pad_to_frames(audio.pcm, audio.sample_rate, self.pipe._fps)
            audio = TTSAudio(pcm, audio.sample_rate, audio.engine, sentence)
            first_frame = await asyncio.shield(prev_end)
            n_frames = len(pcm) * self.pipe._fps // audio.sample_rate
            end.set_result(first_frame + n_frames)
            await self._pace(first_frame / self.pipe._fps)
            t = self.clock()
            frames = await self.pipe._animate(audio, first_frame)
            self.timings.add("avatar", self.clock() - t)
            return audio, frames
        except BaseException as exc:
            if not end.done():  # a skipped sentence takes no frames; later ones must not wait
                prev_end.add_done_callback(lambda f: end.done() or end.set_result(f.result()))
            if isinstance(exc, asyncio.CancelledError):
                raise
            log.warning("sentence %d skipped (%s): %r", sentence.index, stage, exc)
            what = "spoken" if stage == ErrorCode.TTS_ERROR else "animated"
            return TurnFailed(stage, f"a sentence could not be {what} and was skipped")

    async def _deliver(self, pending: asyncio.Queue) -> float:
        """Encode and emit sentences strictly in order; returns seconds of media sent."""
        encoder = self.pipe._encoder_factory()
        media_s = 0.0
        started = False
        while (task := await pending.get()) is not None:
            result = await task
            self.slots.release()
            if isinstance(result, TurnFailed):
                await self.out.put(result)
                continue
            audio, frames = result
            if not started:
                await self._emit(await asyncio.to_thread(encoder.start))
                started = True
            s = audio.sentence
            await self.out.put(SentenceStarted(s, media_s, audio.duration_s, audio.engine))
            try:
                await self._encode_sentence(encoder, audio, frames, start_s=media_s)
            except Exception as exc:  # the frame stream broke (e.g. its replica died)
                log.warning("reply cut at sentence %d: %r", s.index, exc)
                await self.out.put(
                    TurnFailed(
                        ErrorCode.AVATAR_ERROR, "the avatar stopped mid-reply; the reply was cut"
                    )
                )
                break
            media_s += audio.duration_s
        if started:
            for chunk in await asyncio.to_thread(encoder.close):
                await self._emit(chunk)
        return media_s

    async def _encode_sentence(self, encoder, audio: TTSAudio, frames, *, start_s: float):
        """Encode a sentence's frames; a stream of frame chunks is encoded as it arrives."""
        fps = self.pipe._fps
        spf = audio.sample_rate // fps
        if isinstance(frames, np.ndarray):
            frames = split_frames(frames, fragment_sizes(len(frames), first_sentence=start_s == 0))
        done = 0
        async for part in frames:
            await self._pace(start_s + done / fps)
            end = (done + len(part)) * spf
            pcm, upcoming = audio.pcm[done * spf : end], audio.pcm[end:]
            t = self.clock()
            chunks = await asyncio.to_thread(encoder.encode, part, pcm, upcoming=upcoming)
            self.timings.add("encode", self.clock() - t)
            done += len(part)
            for chunk in chunks:
                await self._emit(chunk)

    async def _emit(self, chunk: MediaChunk) -> None:
        if chunk.kind == "fragment":
            now = self.clock()
            if "first_media" not in self.timings.seconds:
                self.playing_since = now
                self.playing.set()
                self.timings.add("first_media", now - self.t0)
                self.timings.add("stalled", 0.0)
            else:
                # A client playing from the first fragment, waiting whenever it runs out:
                # how long it waits for this one. Above zero, media is made slower than
                # real time (see docs/protocol.md, turn_end timings).
                played = now - self.playing_since - self.timings.seconds["stalled"]
                if played > chunk.start_s + STALL_SLACK_S:
                    self.timings.add("stalled", played - chunk.start_s)
        await self.out.put(chunk)
