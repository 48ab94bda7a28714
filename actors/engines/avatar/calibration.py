"""Calibration inputs for int8 Wav2Lip: what the model sees when it speaks for real.

``models.quantize.quantize_wav2lip`` takes mel windows and face inputs; these functions make
them the way the lip-sync stage does: mel windows of espeak-ng speech (``features``) and the face
crops of a prepared portrait, masked and paired with themselves as reference.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from models.quantize import quantize_wav2lip
from models.registry import model_path, require_model

CALIBRATION_TEXT = (
    "Hello! I am your talking avatar. Would you like to hear about the weather, the mountains "
    "or the quiet blue ocean? Just ask me anything at all."
)
DEFAULT_FRAMES = 48


def speech_windows(n_frames: int = DEFAULT_FRAMES, *, text: str = CALIBRATION_TEXT, fps=25):
    """``[n_frames, 1, 80, 16]`` mel windows spread evenly over espeak-ng speaking ``text``."""
    from actors.engines.avatar.features import mel_windows, melspectrogram
    from actors.engines.tts.espeak import EspeakTTS

    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    audio = EspeakTTS(sample_rate=16000).synthesize_blocking(text)
    total = max(1, -(-len(audio.pcm) * fps // audio.sample_rate))
    windows = mel_windows(melspectrogram(audio.pcm, audio.sample_rate), total, fps)
    return windows[np.linspace(0, total - 1, n_frames).round().astype(int)]


def face_windows(crops: np.ndarray, n_frames: int = DEFAULT_FRAMES) -> np.ndarray:
    """``[n_frames, 6, 96, 96]`` face inputs cycling through RGB crops ``[N, 96, 96, 3]``."""
    from actors.engines.avatar.wav2lip_runner import self_reference_input

    return self_reference_input(np.asarray(crops)[np.arange(n_frames) % len(crops)])


def portrait_crops(image: str | Path, *, models_dir: str | Path) -> np.ndarray:
    """Face crops of a photo, found and cut as ``prepare_avatar`` does (into a throwaway pack)."""
    from actors.engines.avatar.prepare import prepare_avatar

    with tempfile.TemporaryDirectory(prefix="avatar-chat-calibration-") as tmp:
        pack = prepare_avatar(image, name="calibration", avatars_dir=tmp, models_dir=models_dir)
    return pack.crops


def quantize_model(
    name: str,
    models_dir: str | Path,
    *,
    crops: np.ndarray,
    n_frames: int = DEFAULT_FRAMES,
    text: str = CALIBRATION_TEXT,
) -> Path:
    """Quantise registry model ``name`` (fp32 in ``models_dir``) to its ``_int8`` file."""
    fp32 = require_model(name, models_dir)
    mel = speech_windows(n_frames, text=text)
    return quantize_wav2lip(
        fp32, model_path(name, models_dir, precision="int8"), mel, face_windows(crops, n_frames)
    )
