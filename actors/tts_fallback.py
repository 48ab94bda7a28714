"""The circuit breaker in front of a speech engine: ``Sentence -> TTSAudio``.

``FallbackTTS`` puts a second engine (offline espeak-ng) behind a first one
(online edge-tts) with a timeout, and stops trying the first for a while after it
fails. ``actors.tts`` re-exports it and builds it in ``make_tts``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from actors.messages import TTSAudio

if TYPE_CHECKING:  # a type name only: actors.tts imports this module
    from actors.tts import TTSEngine

# The breaker's warnings keep the logger of actors.tts, where they were first logged,
# so existing log filters (and the tests) still find them.
log = logging.getLogger("actors.tts")


class FallbackTTS:
    """``Sentence -> TTSAudio``: ``primary`` within ``timeout_s``, else ``fallback``.

    A primary failure or timeout opens a circuit breaker: that sentence and every one for
    the next ``retry_after_s`` go straight to the fallback, so a dead network costs at most
    one timeout per interval. Then one trial call goes to the primary (concurrent calls
    meanwhile use the fallback); success closes the breaker, failure opens it again. Each
    opening logs one warning with the reason. Fallback errors propagate.
    """

    def __init__(
        self,
        primary: TTSEngine,
        fallback: TTSEngine,
        *,
        timeout_s: float = 2.0,
        retry_after_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if retry_after_s < 0:
            raise ValueError(f"retry_after_s must be >= 0, got {retry_after_s}")
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
        self._clock = clock
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def breaker_open(self) -> bool:
        """True while sentences go straight to the fallback."""
        return self._opened_at is not None and self._clock() - self._opened_at < self.retry_after_s

    async def synthesize(self, text: str) -> TTSAudio:
        if self.breaker_open or self._trial_running:
            return await self.fallback.synthesize(text)
        trial = self._opened_at is not None
        self._trial_running = trial
        try:
            audio = await self._primary_within_timeout(text)
        except Exception as err:  # any primary failure means: use the fallback
            self._open(err)
        else:
            if trial:
                log.info("%s answered again; breaker closed", self.primary.name)
            self._opened_at = None
            return audio
        finally:
            if trial:
                self._trial_running = False
        return await self.fallback.synthesize(text)

    async def _primary_within_timeout(self, text: str) -> TTSAudio:
        # asyncio.wait rather than wait_for: the fallback starts at the deadline even if
        # the primary is slow to honour its cancellation.
        task = asyncio.ensure_future(self.primary.synthesize(text))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.timeout_s)
        finally:
            if not task.done():
                task.cancel()
                task.add_done_callback(_retrieve_outcome)
        if not done:
            raise TimeoutError(f"no audio within {self.timeout_s:g} s")
        return task.result()

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
