"""Offline speech with espeak-ng, bound through ctypes to the library in ``espeakng-loader``.

The espeak-ng C library keeps global state (one voice, one rate, one callback) and is not
thread-safe, so every call into it happens under ``_LOCK`` and it is initialised once per
process. Voice and rate are set per synthesis (cheaply: only when they change), so engines
with different options, and sentences in different languages, can share the process.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
from dataclasses import dataclass

import espeakng_loader
import numpy as np
import soxr

from actors.core.messages import Sentence, TTSAudio
from actors.engines.tts.base import TTS, choose_voice, silence, speakable_text, tts_engines
from config.tts_settings import EspeakTTSSettings

# Constants from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # report errors instead of calling exit()
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000  # a sentence pause at the end, so consecutive sentences don't run together
_PARAM_RATE = 1
_EE_OK = 0

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

_LOCK = threading.Lock()


@dataclass
class _Library:
    lib: ctypes.CDLL
    native_rate: int
    callback: object  # the ctypes callback; kept referenced so it is never collected
    samples: list[np.ndarray]
    voice: str | None = None
    rate_wpm: int | None = None


_library: _Library | None = None


def _load() -> _Library:
    """Load and initialise espeak-ng once per process; call with ``_LOCK`` held."""
    global _library
    if _library is not None:
        return _library
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]  # fmt: skip
    data_path = espeakng_loader.get_data_path().encode()
    native_rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, _INITIALIZE_DONT_EXIT
    )
    if native_rate <= 0:
        raise RuntimeError(f"espeak-ng failed to initialise with data at {data_path.decode()}")
    samples: list[np.ndarray] = []

    def collect(wav, n_samples, _events):
        if n_samples > 0 and wav:
            samples.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        return 0  # 0: continue synthesis

    callback = _SynthCallback(collect)
    lib.espeak_SetSynthCallback(callback)
    _library = _Library(lib, native_rate, callback, samples)
    return _library


def _select(library: _Library, voice: str, rate_wpm: int) -> None:
    """Make ``voice`` and ``rate_wpm`` current; call with ``_LOCK`` held."""
    if library.voice != voice:
        if library.lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            library.voice = None
            raise ValueError(f"espeak-ng has no voice named {voice!r}")
        library.voice = voice
    if library.rate_wpm != rate_wpm:
        library.lib.espeak_SetParameter(_PARAM_RATE, rate_wpm, 0)
        library.rate_wpm = rate_wpm


def _synthesize_native(text: str, voice: str, rate_wpm: int) -> tuple[np.ndarray, int]:
    """Blocking synthesis: PCM16 at espeak-ng's native rate (22050 Hz)."""
    with _LOCK:
        library = _load()
        _select(library, voice, rate_wpm)
        library.samples.clear()
        data = text.encode("utf-8") + b"\0"
        err = library.lib.espeak_Synth(
            data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None
        )
        if err != _EE_OK:
            library.samples.clear()
            raise RuntimeError(f"espeak_Synth failed with error {err}")
        pcm = np.concatenate(library.samples) if library.samples else np.zeros(0, np.int16)
        library.samples.clear()
        return pcm, library.native_rate


@tts_engines.register
class EspeakTTS(TTS):
    """``Sentence -> TTSAudio``: offline espeak-ng speech, PCM16 mono at ``sample_rate``.

    Each sentence is spoken by the voice for its language (``voices``: ``cmn`` for Chinese;
    ``voice`` for English and any other). Text is cleaned of control and format characters
    first. Text with nothing left to speak (empty, whitespace, only control characters), or
    that espeak-ng renders as no sound, gives a short silence rather than an error, so one
    odd sentence never breaks a turn. An unknown voice is a ValueError at construction.
    """

    name = "espeak"
    settings_class = EspeakTTSSettings

    def __init__(self, settings: EspeakTTSSettings | None = None, /, **options) -> None:
        self.settings = s = self.settings_from(settings, options)
        with _LOCK:
            for voice in sorted(s.all_voices):  # fail now, not mid-conversation
                _select(_load(), voice, s.rate_wpm)
        self.voice, self.rate_wpm, self.sample_rate = s.voice, s.rate_wpm, s.sample_rate
        self.voices = s.voice_table
        self.offered = s.all_voices

    async def synthesize(self, sentence: Sentence) -> TTSAudio:
        return await asyncio.to_thread(self.synthesize_blocking, sentence)

    def synthesize_blocking(self, sentence: Sentence | str) -> TTSAudio:
        """The same as ``synthesize`` for callers already off the event loop (or plain text)."""
        if isinstance(sentence, str):
            sentence = Sentence(sentence)
        spoken = speakable_text(sentence.text)
        pcm = np.zeros(0, np.int16)
        if spoken:
            voice = self.voice_for(sentence)
            native, native_rate = _synthesize_native(spoken, voice, self.rate_wpm)
            pcm = soxr.resample(native, native_rate, self.sample_rate)
        if not np.any(pcm):
            pcm = silence(self.sample_rate)
        pcm = pcm.astype(np.int16, copy=False)
        return TTSAudio(pcm, self.sample_rate, self.name, sentence)

    def voice_for(self, sentence: Sentence) -> str:
        """The voice that speaks ``sentence``: the one for its language, else ``voice``."""
        return choose_voice(self.voices, self.voice, sentence, self.name, offered=self.offered)
