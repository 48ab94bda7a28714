"""``EdgeTTS``: Microsoft Edge's online neural voices through ``edge-tts``."""

from __future__ import annotations

import asyncio
import io

import av
import edge_tts
import numpy as np
from edge_tts.constants import WSS_URL
from edge_tts.exceptions import NoAudioReceived

from actors.core.messages import Sentence, TTSAudio
from actors.engines.tts.base import (
    TTS,
    TTSRefused,
    choose_voice,
    silence,
    speakable_text,
    tts_engines,
)
from actors.engines.tts.reachability import HostProbe
from config.tts_settings import EdgeTTSSettings

__all__ = ["EdgeTTS", "decode_mp3"]


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


@tts_engines.register
class EdgeTTS(TTS):
    """``Sentence -> TTSAudio``: Microsoft Edge's online neural voices through ``edge-tts``.

    Each sentence is spoken by the voice for its language (``voices``; ``voice`` for English
    and any other). The service streams MP3 (24 kHz mono); it is decoded and resampled to
    ``sample_rate`` in a thread. Needs the network: failures raise (aiohttp / edge_tts
    errors) for ``FallbackTTS`` to handle; ``unavailable_reason`` says when the service's
    host cannot be reached at all (no network), checked every ``reachability_check_s``. A
    sentence the service sends no audio for (a voice given text in another language) or a
    malformed voice raises ``TTSRefused``.
    Options are ``EdgeTTSSettings`` fields (or that object). Text with nothing to speak
    gives a short silence without calling the service.
    """

    name = "edge"
    settings_class = EdgeTTSSettings

    def __init__(self, settings: EdgeTTSSettings | None = None, /, **options) -> None:
        s = self.settings_from(settings, options)
        for voice in sorted(s.all_voices):
            try:  # edge-tts checks the voice's form when a Communicate is built (no network)
                edge_tts.Communicate("probe", voice, proxy=s.proxy)
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"bad edge-tts voice or proxy ({voice!r}, {s.proxy!r}): {err}"
                ) from err
        self.settings = s
        self.voice = s.voice
        self.voices = s.voice_table
        self.offered = s.all_voices
        self.sample_rate = s.sample_rate
        self.proxy = s.proxy
        self.connect_timeout_s = s.connect_timeout_s
        self.probe = HostProbe.for_url(s.proxy or WSS_URL, interval_s=s.reachability_check_s)

    async def unavailable_reason(self) -> str | None:
        """Why the service (or the proxy) cannot be reached from here, if it cannot."""
        if await self.probe.reachable():
            return None
        return f"{self.probe.host}:{self.probe.port} unreachable ({self.probe.last_error})"

    async def synthesize(self, sentence: Sentence) -> TTSAudio:
        spoken = speakable_text(sentence.text)
        if not spoken:
            return TTSAudio(silence(self.sample_rate), self.sample_rate, self.name, sentence)
        voice = self.voice_for(sentence)
        try:
            communicate = edge_tts.Communicate(
                spoken, voice, proxy=self.proxy, connect_timeout=self.connect_timeout_s
            )
        except ValueError as err:  # a malformed voice: checked at construction, so set since
            raise TTSRefused(f"edge-tts will not use voice {voice!r}: {err}") from err
        mp3 = bytearray()
        try:
            async for chunk in communicate.stream():
                if chunk["type"] == "audio":  # the rest is word/sentence boundary metadata
                    mp3 += chunk["data"]
        except NoAudioReceived as err:
            raise TTSRefused(
                f"edge-tts sent no audio for voice {voice!r} (text it cannot speak?): {err}"
            ) from err
        pcm = await asyncio.to_thread(decode_mp3, bytes(mp3), self.sample_rate)
        return TTSAudio(pcm, self.sample_rate, self.name, sentence)

    def voice_for(self, sentence: Sentence) -> str:
        """The voice that speaks ``sentence``: the one for its language, else ``voice``."""
        return choose_voice(self.voices, self.voice, sentence, self.name, offered=self.offered)
