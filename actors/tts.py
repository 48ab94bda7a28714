"""Text to speech: ``Sentence -> TTSAudio``.

Engines share one interface (``TTSEngine``): ``await engine.synthesize(text)`` returns PCM16
mono at the engine's ``sample_rate``. ``EdgeTTS`` uses Microsoft's online voices,
``actors.espeak.EspeakTTS`` speaks offline, and ``FallbackTTS`` (``actors.tts_fallback``,
re-exported here) puts the second behind the first with a timeout and a circuit breaker.
``make_tts`` builds the configured engine. ``speakable_text`` is what every engine
actually speaks; user input is validated earlier by ``actors.textclean.clean_text``.
"""

from __future__ import annotations

import asyncio
import io
import unicodedata
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import av
import edge_tts
import numpy as np

from actors.messages import TTSAudio
from actors.tts_fallback import FallbackTTS

if TYPE_CHECKING:
    from config import TTSSettings

SILENCE_S = 0.1  # what an engine returns for text with nothing to speak

__all__ = [
    "SILENCE_S",
    "EdgeTTS",
    "FallbackTTS",
    "TTSEngine",
    "decode_mp3",
    "make_tts",
    "silence",
    "speakable_text",
]


@runtime_checkable
class TTSEngine(Protocol):
    name: str
    sample_rate: int

    async def synthesize(self, text: str) -> TTSAudio: ...


def speakable_text(text: str) -> str:
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
        spoken = speakable_text(text)
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
