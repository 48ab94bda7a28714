"""Text to speech: ``Sentence -> TTSAudio``.

Engines share one interface (``TTSEngine``): ``await engine.synthesize(text)`` returns PCM16
mono at the engine's ``sample_rate``. ``EdgeTTS`` uses Microsoft's online voices,
``actors.espeak.EspeakTTS`` speaks offline, and ``FallbackTTS`` puts the second behind the
first with a timeout and a circuit breaker. ``make_tts`` builds the configured engine.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import av
import edge_tts
import numpy as np

from actors.messages import TTSAudio

if TYPE_CHECKING:
    from config.settings import TTSSettings

log = logging.getLogger(__name__)

SILENCE_S = 0.1  # what an engine returns for text with nothing to speak


@runtime_checkable
class TTSEngine(Protocol):
    name: str
    sample_rate: int

    async def synthesize(self, text: str) -> TTSAudio: ...


def clean_text(text: str) -> str:
    """Text safe to hand to a speech engine: control and format characters removed.

    Control characters (NUL would end a C string) become spaces; format characters
    (bidi marks, zero-width joiners) and lone surrogates (not encodable as UTF-8) are
    dropped. Everything else, any script or emoji, is kept for the engine to read.
    """
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cc":
            kept.append(" ")
        elif category not in ("Cf", "Cs"):
            kept.append(ch)
    return " ".join("".join(kept).split())


def silence(sample_rate: int, seconds: float = SILENCE_S) -> np.ndarray:
    return np.zeros(round(sample_rate * seconds), dtype=np.int16)


def decode_mp3(data: bytes, sample_rate: int) -> np.ndarray:
    """MP3 bytes -> PCM16 mono at ``sample_rate`` (PyAV decodes and resamples; no ffmpeg binary)."""
    if not data:
        raise ValueError("no MP3 data to decode")
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
    parts: list[np.ndarray] = []
    with av.open(io.BytesIO(data), mode="r", format="mp3") as container:
        for frame in container.decode(audio=0):
            parts.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
    parts.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    if not parts:
        raise ValueError("MP3 data held no audio frames")
    return np.concatenate(parts).astype(np.int16, copy=False)


class EdgeTTS:
    """``Sentence -> TTSAudio``: Microsoft Edge's online neural voices through ``edge-tts``.

    The service streams MP3 (24 kHz mono); it is decoded and resampled to ``sample_rate``
    in a thread. Needs the network: failures raise (aiohttp / edge_tts errors) for
    ``FallbackTTS`` to handle. ``proxy`` (an ``http://host:port`` URL) is passed to edge-tts.
    Text with nothing to speak gives a short silence without calling the service.
    """

    name = "edge"

    def __init__(
        self,
        *,
        voice: str = "en-US-AriaNeural",
        sample_rate: int = 24000,
        proxy: str | None = None,
        connect_timeout_s: int = 10,
    ):
        if not 8000 <= sample_rate <= 48000:
            raise ValueError(f"sample_rate must be within 8000..48000 Hz, got {sample_rate}")
        if connect_timeout_s <= 0:
            raise ValueError(f"connect_timeout_s must be positive, got {connect_timeout_s}")
        try:  # edge-tts checks the voice's form when a Communicate is built (no network)
            edge_tts.Communicate("probe", voice, proxy=proxy)
        except (TypeError, ValueError) as err:
            raise ValueError(f"bad edge-tts voice or proxy ({voice!r}, {proxy!r}): {err}") from err
        self.voice = voice
        self.sample_rate = sample_rate
        self.proxy = proxy
        self.connect_timeout_s = int(connect_timeout_s)

    async def synthesize(self, text: str) -> TTSAudio:
        spoken = clean_text(text)
        if not spoken:
            return TTSAudio(silence(self.sample_rate), self.sample_rate, engine=self.name)
        communicate = edge_tts.Communicate(
            spoken, self.voice, proxy=self.proxy, connect_timeout=self.connect_timeout_s
        )
        mp3 = bytearray()
        async for chunk in communicate.stream():
            if chunk["type"] == "audio":  # the rest is word/sentence boundary metadata
                mp3 += chunk["data"]
        pcm = await asyncio.to_thread(decode_mp3, bytes(mp3), self.sample_rate)
        return TTSAudio(pcm=pcm, sample_rate=self.sample_rate, engine=self.name)


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


def make_tts(settings: TTSSettings) -> TTSEngine:
    """The engine named by ``settings.engine`` ("auto": edge-tts with espeak-ng fallback)."""
    # Imported here: espeak.py imports this module's helpers.
    from actors.espeak import EspeakTTS

    def espeak() -> EspeakTTS:
        return EspeakTTS(
            voice=settings.espeak_voice,
            rate_wpm=settings.espeak_rate_wpm,
            sample_rate=settings.sample_rate,
        )

    def edge() -> EdgeTTS:
        return EdgeTTS(voice=settings.edge_voice, sample_rate=settings.sample_rate)

    if settings.engine == "espeak":
        return espeak()
    if settings.engine == "edge":
        return edge()
    if settings.engine == "auto":
        return FallbackTTS(
            edge(),
            espeak(),
            timeout_s=settings.edge_timeout_s,
            retry_after_s=settings.breaker_retry_s,
        )
    raise ValueError(f"unknown TTS engine {settings.engine!r}")
