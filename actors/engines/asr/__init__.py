"""Speech recognition, ``Utterance -> Transcript``: the ``ASR`` base class and its engines.

    WhisperASR  "whisper"  faster-whisper (CTranslate2 Whisper models), CPU or CUDA

``asr_engines.create(settings.asr, models_dir=settings.models_dir)`` builds the engine the
settings name; importing this package registers the one above. An engine from elsewhere
(a test's fake) registers itself when its module is imported, and is named in
``Settings.plugins`` so that every process, Serve replicas included, imports it.
"""

from actors.engines.asr.base import ASR, asr_engines, utterance_of
from actors.engines.asr.whisper import ASRUnavailable, DownloadProgress, WhisperASR

__all__ = ["ASR", "ASRUnavailable", "DownloadProgress", "WhisperASR", "asr_engines", "utterance_of"]
