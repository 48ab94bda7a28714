"""Voice activity detection, ``AudioChunk -> SpeechStarted | Utterance``: ``VAD`` and its engine.

    SileroVAD  the Silero VAD model (ONNX, bundled with faster-whisper), 16 kHz

One engine, configured by the ``vad`` section: there is no registry; ``VoiceInput`` takes
any ``VAD``.
"""

from actors.engines.vad.base import VAD
from actors.engines.vad.silero import SileroVAD
from actors.engines.vad.silero_model import CONTEXT, WINDOW, SileroModel, shared_model

__all__ = ["CONTEXT", "VAD", "WINDOW", "SileroModel", "SileroVAD", "shared_model"]
