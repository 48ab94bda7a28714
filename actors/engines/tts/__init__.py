"""Text to speech, ``Sentence -> TTSAudio``: the ``TTS`` base class and its engines.

    EdgeTTS      "edge"      Microsoft Edge's online voices (edge-tts)
    EspeakTTS    "espeak"    espeak-ng, offline
    FallbackTTS  "fallback"  one engine behind another, with a circuit breaker

``tts_engines.create(settings.tts)`` builds the engine the settings name; importing this
package registers the three above. Each speaks a sentence with its voice for the sentence's
language (``actors.core.language``); ``TTSRefused`` is a sentence an engine will not speak.
"""

from actors.engines.tts.base import TTS, TTSRefused, silence, speakable_text, tts_engines
from actors.engines.tts.edge import EdgeTTS, decode_mp3
from actors.engines.tts.espeak import EspeakTTS
from actors.engines.tts.fallback import FallbackTTS

__all__ = [
    "TTS",
    "EdgeTTS",
    "EspeakTTS",
    "FallbackTTS",
    "TTSRefused",
    "decode_mp3",
    "silence",
    "speakable_text",
    "tts_engines",
]
