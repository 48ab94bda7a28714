"""``WhisperASR``: speech recognition with faster-whisper (CTranslate2 Whisper models)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import ctranslate2
import faster_whisper.utils
import huggingface_hub
import numpy as np
import soxr
from faster_whisper import WhisperModel
from tqdm.auto import tqdm

from actors.core.language import normalize_language
from actors.core.messages import Transcript, Utterance
from actors.engines.asr.base import ASR, asr_engines
from actors.engines.asr.phantoms import spoken_text
from config.asr_settings import WhisperASRSettings

__all__ = ["SAMPLE_RATE", "ASRUnavailable", "DownloadProgress", "WhisperASR"]

logger = logging.getLogger(__name__)

# The files of a converted model, as faster-whisper's own download_model fetches them.
_MODEL_FILES = ["config.json", "preprocessor_config.json", "model.bin", "tokenizer.json",
                "vocabulary.*"]  # fmt: skip
SAMPLE_RATE = 16000  # what Whisper's feature extractor expects


class ASRUnavailable(RuntimeError):
    """The ASR model could not be found, downloaded or loaded."""

    def __init__(self, model: str, reason: str):
        self.model = model
        self.reason = reason
        super().__init__(
            f"speech recognition is unavailable: Whisper model {model!r} could not be loaded "
            f"({reason}). A model name is downloaded from the Hugging Face Hub on first use; "
            "offline, set the ASR model to a local CTranslate2 Whisper model directory."
        )


class DownloadProgress(tqdm):
    """A download progress bar that is always shown and also written to the log.

    faster-whisper's own ``download_model`` hides huggingface_hub's bars; this one is
    passed as ``tqdm_class`` instead, so a first-use download of a large model is visible
    in a terminal and in a Ray replica's log alike (every ``log_every_s`` and at the end).
    """

    log_every_s = 5.0

    def __init__(self, *args, **kwargs):
        kwargs["disable"] = False
        self._logged_at = 0.0
        super().__init__(*args, **kwargs)

    def update(self, n: float | None = 1) -> bool | None:
        shown = super().update(n)
        if time.monotonic() - self._logged_at >= self.log_every_s:
            self._log()
        return shown

    def close(self) -> None:
        if not self.disable and self.n:
            self._log()
        super().close()

    def _log(self) -> None:
        self._logged_at = time.monotonic()
        logger.info("model download: %s", self)


@asr_engines.register
class WhisperASR(ASR):
    """``Utterance -> Transcript``: one faster-whisper model, loaded once at construction.

    ``model`` is a faster-whisper model name (``"base"``, ``"small.en"``, a Hub id) or a
    local directory; named models are found in (or downloaded to) ``download_root``.
    ``device="auto"`` picks CUDA float16 when CTranslate2 sees a GPU, else CPU int8.
    ``language=None`` detects the language per utterance; an utterance that names its
    language (a session's choice) is heard in that one. Each utterance is decoded on its
    own, without the previous text as a prompt and without timestamps. Options are
    ``WhisperASRSettings`` fields (or that object). Loading failures raise ``ASRUnavailable``.
    """

    name = "whisper"
    settings_class = WhisperASRSettings

    def __init__(
        self,
        settings: WhisperASRSettings | None = None,
        /,
        *,
        download_root: Path | str | None = None,
        **options,
    ):
        s = self.settings_from(settings, options)
        device = s.device
        if device == "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        self.settings = s
        self.model_name = s.model
        self.device = device
        self.compute_type = s.compute_type or ("float16" if device == "cuda" else "int8")
        self.beam_size = s.beam_size
        path = self._locate(download_root, s.local_files_only)
        try:
            self._model = WhisperModel(
                path, device=device, compute_type=self.compute_type, cpu_threads=s.cpu_threads
            )
        except Exception as exc:  # CTranslate2 raises plain RuntimeError/ValueError
            raise ASRUnavailable(self.model_name, f"{type(exc).__name__}: {exc}") from exc
        self.languages = list(self._model.supported_languages)
        if s.language is not None and s.language not in self.languages:
            raise ValueError(f"language {s.language!r} is not supported by {self.model_name!r}")
        self.language = s.language
        logger.info("ASR model %s loaded on %s (%s)", self.model_name, device, self.compute_type)

    @classmethod
    def from_settings(
        cls, settings: WhisperASRSettings, *, models_dir: Path | None = None
    ) -> WhisperASR:
        return cls(settings, download_root=models_dir)

    def _locate(self, download_root: Path | str | None, local_files_only: bool) -> str:
        """A local model directory: the given one, or the named model from the Hub cache."""
        name = self.model_name
        path = Path(name).expanduser()
        if path.is_dir():
            return str(path)
        if path.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1:
            raise ASRUnavailable(name, f"no model directory at {path}")
        repo = name if "/" in name else getattr(faster_whisper.utils, "_MODELS", {}).get(name)
        if repo is None:
            known = ", ".join(faster_whisper.utils.available_models())
            raise ASRUnavailable(name, f"unknown model name; known names: {known}")
        logger.info("fetching ASR model %s (%s); the first use downloads it", name, repo)
        try:
            return huggingface_hub.snapshot_download(
                repo,
                allow_patterns=_MODEL_FILES,
                cache_dir=None if download_root is None else str(download_root),
                local_files_only=local_files_only,
                tqdm_class=DownloadProgress,
            )
        except Exception as exc:  # offline, missing from the cache, unknown repo, disk full
            raise ASRUnavailable(name, f"{type(exc).__name__}: {exc}") from exc

    def language_for(self, utterance: Utterance) -> str | None:
        """The language to listen for: the utterance's (a session's choice) when the model
        knows it, else the configured ``language`` (None: detected per utterance)."""
        chosen = normalize_language(utterance.language)
        if chosen is None:
            return self.language
        if chosen not in self.languages:
            logger.info("%s has no language %r; using %r", self.model_name, chosen, self.language)
            return self.language
        return chosen

    def transcribe(self, utterance: Utterance) -> Transcript:
        """Recognise the utterance's PCM16 mono speech; other rates are resampled to 16 kHz."""
        pcm, sample_rate = np.asarray(utterance.pcm), utterance.sample_rate
        if pcm.ndim != 1 or pcm.dtype != np.int16:
            raise ValueError(f"expected 1-D int16 PCM, got {pcm.dtype} with shape {pcm.shape}")
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        language = self.language_for(utterance)
        if len(pcm) == 0:
            return Transcript(text="", language=language, asr_s=0.0)
        started = time.perf_counter()
        audio = pcm.astype(np.float32) / 32768.0
        if sample_rate != SAMPLE_RATE:
            audio = soxr.resample(audio, sample_rate, SAMPLE_RATE).astype(np.float32)
        s = self.settings
        segments, info = self._model.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            vad_filter=False,  # the session's VAD already cut the utterance
            condition_on_previous_text=False,
            without_timestamps=True,
            initial_prompt=s.initial_prompts.get(language or ""),
        )
        text = spoken_text(  # decodes lazily
            segments, phantom_lines=s.phantom_lines, max_no_speech_prob=s.max_no_speech_prob
        )
        return Transcript(text=text, language=info.language, asr_s=time.perf_counter() - started)
