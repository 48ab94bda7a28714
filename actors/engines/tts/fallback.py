"""The circuit breaker in front of a speech engine: ``Sentence -> TTSAudio``.

``FallbackTTS`` is a TTS engine made of two: it puts a second engine (offline espeak-ng)
behind a first one (online edge-tts) with a timeout, and stops trying the first for a while
after it fails. A sentence the first refuses (``TTSRefused``) goes to the second alone, and
while the first is unavailable (its host cannot be reached: no network) the second speaks
without the breaker being involved. Its settings name both engines, which the registry
builds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from actors.core.messages import Sentence, TTSAudio
from actors.engines.tts.base import TTS, TTSRefused, tts_engines
from config.tts_settings import FallbackTTSSettings

log = logging.getLogger(__name__)


@tts_engines.register
class FallbackTTS(TTS):
    """``Sentence -> TTSAudio``: ``primary`` within ``timeout_s``, else ``fallback``.

    A primary outage (a failure or a timeout) opens a circuit breaker: that sentence and
    every one for the next ``retry_after_s`` go straight to the fallback, so a dead network
    costs at most one timeout per interval. Then one trial call goes to the primary
    (concurrent calls meanwhile use the fallback); success closes the breaker, failure opens
    it again. Each opening logs one warning with the reason. A refusal (``TTSRefused``: the
    primary will not speak this sentence, say its voice cannot read the text) is no outage:
    the fallback speaks that sentence, one info line says why, and the breaker is left as it
    was (a refused trial leaves the next call a trial). While the primary says it is
    unavailable (``unavailable_reason``: an offline machine cannot reach edge-tts at all),
    it is not called and the breaker is untouched; one warning when that starts, one info
    line when it ends. A sentence whose chosen voice (``Sentence.voice``) only the fallback
    has goes to the fallback. Fallback errors propagate.
    """

    settings_class = FallbackTTSSettings

    def __init__(
        self,
        primary: TTS,
        fallback: TTS,
        *,
        timeout_s: float = 2.0,
        retry_after_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if primary.sample_rate != fallback.sample_rate:
            raise ValueError(
                f"engines disagree on sample_rate: {primary.sample_rate} vs {fallback.sample_rate}"
            )
        self.primary = primary
        self.fallback = fallback
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self.sample_rate = primary.sample_rate
        self.name = f"{primary.name}+{fallback.name}"
        self.offered = set(primary.offered) | set(fallback.offered)
        self._clock = clock
        self._opened_at: float | None = None
        self._trial_running = False
        self.primary_unavailable: str | None = None  # why, while the primary is skipped

    @classmethod
    def from_settings(cls, settings: FallbackTTSSettings) -> FallbackTTS:
        return cls(
            tts_engines.create(settings.primary),
            tts_engines.create(settings.fallback),
            timeout_s=settings.timeout_s,
            retry_after_s=settings.retry_after_s,
        )

    @property
    def breaker_open(self) -> bool:
        """True while sentences go straight to the fallback."""
        return self._opened_at is not None and self._clock() - self._opened_at < self.retry_after_s

    async def synthesize(self, sentence: Sentence) -> TTSAudio:
        if self._fallbacks_voice(sentence.voice):  # a session chose one of its voices
            return await self.fallback.synthesize(sentence)
        if self.breaker_open or self._trial_running or await self._primary_unavailable():
            return await self.fallback.synthesize(sentence)
        trial = self._opened_at is not None
        self._trial_running = trial
        try:
            audio = await self._primary_within_timeout(sentence)
        except TTSRefused as err:  # this sentence only: the primary itself is fine
            log.info(
                "%s refused sentence %d (%s); %s speaks it, the breaker is unchanged",
                self.primary.name,
                sentence.index,
                str(err) or "no detail",
                self.fallback.name,
            )
        except Exception as err:  # any other primary failure means: use the fallback
            self._open(err)
        else:
            if trial:
                log.info("%s answered again; breaker closed", self.primary.name)
            self._opened_at = None
            return audio
        finally:
            if trial:
                self._trial_running = False
        return await self.fallback.synthesize(sentence)

    async def unavailable_reason(self) -> str | None:
        if await self.primary.unavailable_reason() is None:
            return None
        return await self.fallback.unavailable_reason()

    async def aclose(self) -> None:
        await self.primary.aclose()
        await self.fallback.aclose()

    async def _primary_within_timeout(self, sentence: Sentence) -> TTSAudio:
        # asyncio.wait rather than wait_for: the fallback starts at the deadline even if
        # the primary is slow to honour its cancellation.
        task = asyncio.ensure_future(self.primary.synthesize(sentence))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.timeout_s)
        finally:
            if not task.done():
                task.cancel()
                task.add_done_callback(_retrieve_outcome)
        if not done:
            raise TimeoutError(f"no audio within {self.timeout_s:g} s")
        return task.result()

    def _fallbacks_voice(self, voice: str | None) -> bool:
        return (
            voice is not None
            and voice in self.fallback.offered
            and (voice not in self.primary.offered)
        )

    async def _primary_unavailable(self) -> bool:
        reason = await self.primary.unavailable_reason()
        if reason and not self.primary_unavailable:
            log.warning(
                "%s is unavailable (%s); %s speaks until it is back (no outage counted)",
                self.primary.name,
                reason,
                self.fallback.name,
            )
        elif not reason and self.primary_unavailable:
            log.info("%s is available again", self.primary.name)
        self.primary_unavailable = reason
        return reason is not None

    def _open(self, err: BaseException) -> None:
        if self.breaker_open:
            return  # a call that started before the breaker opened; one warning is enough
        self._opened_at = self._clock()
        log.warning(
            "%s failed (%s: %s); using %s for the next %g s",
            self.primary.name,
            type(err).__name__,
            str(err) or "no detail",
            self.fallback.name,
            self.retry_after_s,
        )


def _retrieve_outcome(task: asyncio.Future) -> None:
    # Read the abandoned task's outcome so asyncio does not log it as never retrieved.
    if not task.cancelled():
        task.exception()
