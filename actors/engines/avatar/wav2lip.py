"""The Wav2Lip avatar: ``TTSAudio -> VideoFrames`` for a prepared ``AvatarPack``.

Talking is split in two so inference can be batched elsewhere (the Serve LipSync
deployment gathers frames of many sessions into one call): ``inputs`` turns speech into
the model's mel windows and face crops, ``compose`` pastes the model's mouths back into
the pack's frames. ``talking`` joins both around a local ``Wav2LipRunner`` (CLI,
notebooks). Frame ``i`` of the session timeline always shows pack frame ``i % len(pack)``,
so idle and talking frames join without a jump. Nothing here detects faces: the pack's
boxes were found once, when it was prepared.

With a ``silence`` (``actors.engines.avatar.silence.SilenceSkip``), ``lip_weights`` says which
frames need the model at all: frames of silent stretches are the pack's own, and the frames
next to speech are inferred and blended into it (``compose_some``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from actors.engines.avatar.base import AvatarInfo, AvatarRenderer, array_bytes
from actors.engines.avatar.features import mel_windows, melspectrogram
from actors.engines.avatar.pasteback import mouth_window, paste_mouth
from actors.engines.avatar.prepare import AvatarPack
from actors.engines.avatar.silence import SilenceSkip, blend_frames
from actors.engines.avatar.wav2lip_runner import (
    Wav2LipRunner,
    infer_mouths,
    output_to_rgb,
    self_reference_input,
)


def frame_count(n_samples: int, sample_rate: int, fps: int = 25) -> int:
    """Frames covering ``n_samples``: ``ceil(n_samples * fps / sample_rate)`` (640 at 16 kHz)."""
    return -(-n_samples * fps // sample_rate)


class Wav2LipAvatar(AvatarRenderer):
    """``TTSAudio -> VideoFrames``: Wav2Lip mouths pasted into a prepared avatar's frames.

    ``inputs(pcm, rate, first_frame) -> (mel [N,1,80,16], faces [N,6,96,96])`` and
    ``compose(outputs [N,3,96,96], first_frame) -> frames [N,H,W,3] uint8`` work in model
    tensors. ``face_crops`` and ``paste`` are their uint8 counterparts (crops and mouths,
    27 KB a frame each instead of 221 KB in and 110 KB out), the pair that crosses
    processes; ``talking`` runs them around ``runner`` (``infer_mouths``) in batches of at
    most ``batch_size`` frames. ``silence`` (None: off) skips the model on silent frames:
    ``lip_weights`` and ``compose_some``.
    """

    kind = "wav2lip"

    def __init__(
        self,
        pack: AvatarPack,
        *,
        runner: Wav2LipRunner | None = None,
        fps: int = 25,
        batch_size: int = 16,
        silence: SilenceSkip | None = None,
        note: str = "",
    ) -> None:
        if not isinstance(pack, AvatarPack):
            raise ValueError(f"pack must be an AvatarPack, got {type(pack).__name__}")
        if fps <= 0 or batch_size < 1:
            raise ValueError(f"need fps > 0 and batch_size >= 1, got {fps}, {batch_size}")
        if silence is not None and not isinstance(silence, SilenceSkip):
            raise ValueError(f"silence must be a SilenceSkip or None, got {silence!r}")
        self.pack = pack
        self.runner = runner
        self.fps = fps
        self.batch_size = batch_size
        self.silence = silence
        # H.264 (yuv420p) needs even sides: an odd last row or column is left out.
        self.height, self.width = (int(v) - int(v) % 2 for v in pack.frames.shape[1:3])
        # The part of a model output that paste-back reads: the rest need not be computed.
        self.mouth_window = mouth_window(pack.mask)
        self.note = note

    @classmethod
    def load(cls, avatars_dir: str | Path, name: str, **options) -> Wav2LipAvatar:
        """The pack ``avatars_dir/name`` (NumPy arrays only: no detector is created)."""
        return cls(AvatarPack.load(avatars_dir, name), **options)

    def _indices(self, first_frame: int, n_frames: int) -> np.ndarray:
        if first_frame < 0 or n_frames < 0:
            raise ValueError(
                f"need first_frame >= 0 and n_frames >= 0, got {first_frame}, {n_frames}"
            )
        return (first_frame + np.arange(n_frames)) % len(self.pack)

    def idle(self, n_frames: int, *, first_frame: int = 0) -> np.ndarray:
        """The pack's frames looped by absolute index; no inference."""
        return self.pack.frames[self._indices(first_frame, n_frames), : self.height, : self.width]

    def mel_inputs(self, pcm: np.ndarray, sample_rate: int) -> np.ndarray:
        """Speech -> ``[N, 1, 80, 16]`` mel windows, one per frame, ``N = frame_count(...)``."""
        n_frames = frame_count(len(pcm), sample_rate, self.fps)
        return mel_windows(melspectrogram(pcm, sample_rate), n_frames, self.fps)

    def lip_weights(self, pcm: np.ndarray, sample_rate: int) -> np.ndarray:
        """``[N]`` float32 per frame of ``pcm`` (``N = frame_count(...)``): 1 run the model,
        0 show the pack frame, between: blend the two (all 1 without ``silence``)."""
        n_frames = frame_count(len(pcm), sample_rate, self.fps)
        if self.silence is None:
            return np.ones(n_frames, np.float32)
        return self.silence.weights(pcm, sample_rate, n_frames, self.fps)

    def face_crops(self, first_frame: int, n_frames: int) -> np.ndarray:
        """RGB uint8 ``[n_frames, 96, 96, 3]`` face crops of frames ``first_frame...``."""
        return self.pack.crops[self._indices(first_frame, n_frames)]

    def face_inputs(self, first_frame: int, n_frames: int) -> np.ndarray:
        """``[n_frames, 6, 96, 96]`` face inputs for frames ``first_frame...`` of the timeline."""
        return self_reference_input(self.face_crops(first_frame, n_frames))

    def inputs(
        self, pcm: np.ndarray, sample_rate: int, first_frame: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Model inputs for a stretch of speech starting at absolute frame ``first_frame``."""
        mel = self.mel_inputs(pcm, sample_rate)
        return mel, self.face_inputs(first_frame, len(mel))

    def compose(self, outputs: np.ndarray, first_frame: int = 0) -> np.ndarray:
        """Model outputs ``[N, 3, 96, 96]`` -> frames: each mouth pasted into its pack frame."""
        return self.paste(output_to_rgb(outputs), first_frame)

    def paste(self, mouths: np.ndarray, first_frame: int = 0) -> np.ndarray:
        """RGB uint8 mouth crops ``[N, 96, 96, 3]`` -> frames ``[N, H, W, 3]`` uint8."""
        indices = self._indices(first_frame, len(mouths))
        out = np.empty((len(mouths), self.height, self.width, 3), np.uint8)
        for k, (i, mouth) in enumerate(zip(indices, mouths, strict=True)):
            pasted = paste_mouth(self.pack.frames[i], self._box(i), mouth, self.pack.mask)
            out[k] = pasted[: self.height, : self.width]
        return out

    def compose_some(self, mouths: np.ndarray, first_frame: int, weights: np.ndarray) -> np.ndarray:
        """Frames ``first_frame...`` (one per weight): ``mouths`` holds the mouths of the frames
        whose weight is above 0, in order; weight 1 is pasted as ``paste`` does, 0 is the pack
        frame, and a weight between blends the pasted frame into the pack frame by it."""
        weights = np.asarray(weights, np.float32)
        inferred = np.flatnonzero(weights > 0)
        if len(mouths) != len(inferred):
            raise ValueError(f"{len(inferred)} frames need a mouth, got {len(mouths)}")
        if len(inferred) == len(weights) and np.all(weights == 1):
            return self.paste(mouths, first_frame)  # all speech: as without silence skipping
        out = self.idle(len(weights), first_frame=first_frame)  # a copy (fancy indexing)
        indices = self._indices(first_frame, len(weights))
        for k, i in enumerate(inferred):  # only the frames that have a mouth
            frame, (x0, y0, x1, y1) = self.pack.frames[indices[i]], self._box(indices[i])
            pasted = paste_mouth(frame, (x0, y0, x1, y1), mouths[k], self.pack.mask)
            if weights[i] < 1:  # paste_mouth changes only the box: blend just that
                box = pasted[y0:y1, x0:x1]
                box[:] = blend_frames(box, frame[y0:y1, x0:x1], weights[i])
            out[i] = pasted[: self.height, : self.width]
        return out

    def _box(self, index: int) -> tuple[int, int, int, int]:
        return tuple(int(v) for v in self.pack.boxes[index])

    @property
    def nbytes(self) -> int:
        """The pack's arrays (frames, boxes, crops, mask): what this avatar holds in memory."""
        p = self.pack
        return array_bytes([p.frames, p.boxes, p.crops, p.mask])

    def info(self) -> AvatarInfo:
        precision = getattr(self.runner, "precision", None)
        return AvatarInfo(
            self.kind, self.width, self.height, self.fps, self.note, name=self.pack.name,
            precision=precision,
        )  # fmt: skip

    def talking(self, pcm: np.ndarray, sample_rate: int, *, first_frame: int = 0) -> np.ndarray:
        """All frames of ``pcm`` through the local runner (blocking; call it from a thread)."""
        if self.runner is None:
            raise RuntimeError("this Wav2LipAvatar has no runner: pass runner= to talk locally")
        mel = self.mel_inputs(pcm, sample_rate)
        weights = self.lip_weights(pcm, sample_rate)
        parts = []
        for start in range(0, len(mel), self.batch_size):
            end = min(start + self.batch_size, len(mel))
            need = np.flatnonzero(weights[start:end] > 0)  # silent frames skip the model
            crops = self.face_crops(first_frame + start, end - start)[need]
            mouths = crops  # no frame of this batch needs the model: nothing to run
            if len(need):
                mouths = infer_mouths(self.runner, mel[start:end][need], crops, self.mouth_window)
            parts.append(self.compose_some(mouths, first_frame + start, weights[start:end]))
        if not parts:
            return np.zeros((0, self.height, self.width, 3), np.uint8)
        return np.concatenate(parts)


def model_path(settings) -> Path:
    """The configured model's file: ``<model>.onnx`` (fp32) or ``<model>_int8.onnx`` (int8)."""
    from models.registry import model_path as registry_path

    ls = settings.lipsync
    return registry_path(ls.model, settings.models_dir, precision=ls.precision)


_SPRITE_SHOWN = "; showing the sprite avatar"


def unavailable_reason(settings) -> str | None:
    """Why the configured Wav2Lip avatar cannot be used (None: it can); cheap file checks only."""
    return pack_missing(settings) or weights_missing(settings)


def pack_missing(settings) -> str | None:
    """Why the configured avatar pack cannot be shown (None: it is there), model aside."""
    a = settings.avatar
    if not a.name:
        return f"Wav2Lip: avatar.kind is wav2lip but avatar.name is not set{_SPRITE_SHOWN}"
    if not (Path(settings.avatars_dir).expanduser() / a.name / "meta.json").is_file():
        return (
            f"Wav2Lip: avatar pack {a.name!r} not found in {settings.avatars_dir}. Make it with: "
            f"avatar-chat avatar prepare PHOTO --name {a.name}{_SPRITE_SHOWN}"
        )
    return None


def weights_missing(settings) -> str | None:
    """Why the configured Wav2Lip model cannot be loaded (None: its file is there), whichever
    pack is shown: a server runs the LipSync pool, and offers packs, only when it can."""
    from models.registry import ModelMissing, require_model

    ls = settings.lipsync
    try:
        require_model(ls.model, settings.models_dir, precision=ls.precision)
    except (ModelMissing, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) else str(exc)
        return f"Wav2Lip weights missing: {message}{_SPRITE_SHOWN}"
    return None


def make_runner(settings) -> Wav2LipRunner:
    """The configured model on the configured providers (CUDA first when available)."""
    ls = settings.lipsync
    return Wav2LipRunner(
        model_path=model_path(settings),
        providers=ls.providers,
        intra_op_threads=ls.intra_op_threads,
        parallel_runs=ls.parallel_runs,
        face_cache_bytes=ls.face_cache_mb * 2**20,
        mouth_windows=ls.mouth_windows,
    )
