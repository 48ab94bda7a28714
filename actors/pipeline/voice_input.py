"""Voice input of one conversation: microphone PCM -> speech events, transcripts, barge-in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

import numpy as np

from actors.core.errors import ErrorCode, InterruptReason
from actors.core.events import SpeechEndedEvent, SpeechStartedEvent, TranscriptEvent
from actors.core.messages import SpeechStarted, Transcript, Utterance
from actors.core.textclean import InputTextError, clean_text
from actors.engines.vad.base import VAD
from actors.pipeline.conversation import Conversation
from config import VADSettings

log = logging.getLogger("avatar_chat.voice")
Transcribe = Callable[[Utterance], Awaitable[Transcript]]  # an ASR (its deployment's handle)


class VoiceInput:
    """``AudioChunk -> speech_started | speech_ended | transcript``, driving the conversation.

    Speech sustained for ``barge_in_ms`` while the avatar talks interrupts the reply
    through the same path as the client's interrupt message. Each utterance is
    transcribed (in order) and its text starts a turn. Bad framing is refused by the
    ingress; this class takes whole PCM16 samples. ``language`` (the session's choice; None:
    auto) goes with each utterance to the ASR, as it is when the utterance ends. The VAD
    (Silero, an ONNX Runtime session of its own) is loaded on the first audio: a session that
    only types never pays its import and memory.
    """

    def __init__(
        self,
        *,
        conversation: Conversation,
        transcribe: Transcribe,
        settings: VADSettings,
        max_chars: int = 2000,
        vad: VAD | None = None,
    ) -> None:
        self.conv = conversation
        self._transcribe = transcribe
        self._settings = settings
        self._max_chars = max_chars
        self._vad = vad
        self._lock = asyncio.Lock()  # VAD state is sequential: one chunk at a time, in order
        self._barged = False
        self._asr_chain: asyncio.Task | None = None
        self.unavailable_reason: str | None = None
        self.language: str | None = None

    @property
    def vad(self) -> VAD:
        if self._vad is None:
            from actors.engines.vad.silero import SileroVAD  # onnxruntime: only when needed

            self._vad = SileroVAD.from_settings(self._settings)
        return self._vad

    async def feed(self, pcm: np.ndarray) -> None:
        async with self._lock:
            if self._vad is None:  # the first audio: load it off the event loop
                await asyncio.to_thread(lambda: self.vad)
            events = await asyncio.to_thread(self.vad.feed, pcm)
            s = self._settings
            run = self.vad.speech_run_ms
            if s.barge_in and not self._barged and run >= s.barge_in_ms and self.conv.talking:
                self._barged = True
                await self.conv.interrupt(InterruptReason.BARGE_IN)
            for event in events:
                if isinstance(event, SpeechStarted):
                    self.conv.put(SpeechStartedEvent(round(event.at_s, 3)))
                elif isinstance(event, Utterance):
                    self._barged = False
                    # Before the ASR runs: a client can stop its microphone or show progress.
                    self.conv.put(SpeechEndedEvent(round(event.start_s, 3), round(event.end_s, 3)))
                    if self.language is not None:
                        event = replace(event, language=self.language)
                    self._queue_transcription(event)

    def _queue_transcription(self, utterance: Utterance) -> None:
        previous = self._asr_chain

        async def run() -> None:
            if previous is not None:  # transcripts start turns in the order they were spoken
                await asyncio.gather(previous, return_exceptions=True)
            await self._transcribe_one(utterance)

        self._asr_chain = asyncio.create_task(run())

    async def _transcribe_one(self, utterance: Utterance) -> None:
        try:
            result = await self._transcribe(utterance)
        except Exception as exc:
            log.warning("transcription failed: %s", exc)
            self.conv.error(
                ErrorCode.ASR_UNAVAILABLE, f"speech was heard but not transcribed: {exc}"
            )
            return
        self.conv.put(
            TranscriptEvent(
                text=result.text,
                language=result.language,
                asr_s=round(result.asr_s, 3),
                start_s=round(utterance.start_s, 3),
                end_s=round(utterance.end_s, 3),
            )
        )
        try:
            text = clean_text(result.text, max_chars=self._max_chars)
        except InputTextError:
            return  # nothing intelligible: no turn
        self.conv.submit_text(text)

    async def close(self) -> None:
        if self._asr_chain is not None:
            self._asr_chain.cancel()
            await asyncio.gather(self._asr_chain, return_exceptions=True)
