"""Wav2Lip inference with ONNX Runtime, and the face-crop conversions around it.

Wav2Lip was trained on OpenCV images, so its crops are BGR: ``prepare_face_input``
and ``output_to_rgb`` convert, and callers deal in RGB only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from actors.engines.avatar.face_cache import (
    CachedFaceEncoder,
    FaceFeatureCache,
    release_freed_memory,
)
from actors.engines.avatar.mouth_windows import MouthWindows
from models.face_split import FaceSplitError
from models.wav2lip_layers import FACE_SHAPE, IMG_SIZE, MEL_SHAPE, OUTPUT_SHAPE

log = logging.getLogger("avatar_chat.wav2lip")

_FETCH_HINT = (
    "fetch the Wav2Lip ONNX model into the models directory (models/ registry, name "
    "'wav2lip'), or for tests build a random-weight stand-in with "
    "models.wav2lip_graph.build_wav2lip_onnx"
)


def prepare_face_input(crop_rgb: np.ndarray, reference_rgb: np.ndarray) -> np.ndarray:
    """Target and reference crops RGB uint8 ``[..., 96, 96, 3]`` -> ``[..., 6, 96, 96]``.

    float32 in [0, 1], BGR: channels 0-2 are the target with its lower half (rows 48:)
    zeroed, the part Wav2Lip redraws; channels 3-5 are the reference face (pose and
    identity). Leading batch dimensions are kept.
    """
    crop, ref = np.asarray(crop_rgb), np.asarray(reference_rgb)
    for name, img in (("crop", crop), ("reference", ref)):
        if img.dtype != np.uint8 or img.shape[-3:] != (IMG_SIZE, IMG_SIZE, 3):
            raise ValueError(f"{name} must be uint8 [..., 96, 96, 3], got {img.dtype} {img.shape}")
    if crop.shape != ref.shape:
        raise ValueError(f"crop {crop.shape} and reference {ref.shape} differ in shape")
    masked = crop.copy()
    masked[..., IMG_SIZE // 2 :, :, :] = 0
    stacked = np.concatenate([masked[..., ::-1], ref[..., ::-1]], axis=-1)  # RGB -> BGR
    return np.moveaxis(stacked, -1, -3).astype(np.float32) / np.float32(255.0)


def self_reference_input(crops_rgb: np.ndarray) -> np.ndarray:
    """Face inputs as Wav2Lip's inference builds them: each crop is its own reference."""
    return prepare_face_input(crops_rgb, crops_rgb)


def output_to_rgb(output: np.ndarray) -> np.ndarray:
    """Model output ``[..., 3, 96, 96]`` float in [0, 1] (BGR) -> RGB uint8 ``[..., 96, 96, 3]``."""
    out = np.asarray(output)
    if out.shape[-3:] != OUTPUT_SHAPE:
        raise ValueError(f"output must be [..., 3, 96, 96], got {out.shape}")
    rgb = np.moveaxis(out, -3, -1)[..., ::-1]
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


class Wav2LipRunner:
    """``mel windows + face crops -> mouth crops``: one ONNX Runtime session, any batch size.

    ``infer(mel [B,1,80,16], faces [B,6,96,96]) -> [B,3,96,96]`` float32 in [0, 1] (BGR,
    see ``output_to_rgb``). Inputs are matched by shape, so exports that name them
    differently (``audio_sequences``/``face_sequences``) load too. Calls may come from
    several threads; ONNX Runtime sessions allow concurrent ``run``.

    ``parallel_runs`` splits a batch into that many slices run at once on the one session,
    each with ``intra_op_threads`` threads. On CPUs this is the cheaper way to use cores:
    one core per slice does no cross-thread synchronisation per layer, where one call
    spread over all cores does (``bench/lipsync.py`` measures both). Batches smaller than
    ``min_slice * 2`` frames run as one call.

    ``face_cache_bytes`` > 0 splits the graph at its face encoder (``models.face_split``) and
    keeps the encoder's outputs per face input (``FaceFeatureCache``, at most that many
    bytes): an avatar's frames repeat, so per frame only the audio side and the decoder run,
    with the same output as the whole graph (checked once at load; a graph that cannot be
    split, or whose parts disagree with it, runs whole and says so in ``face_split_note``).

    ``mouth_windows`` > 0 lets ``infer(..., window=(y0, y1, x0, x1))`` run a copy of the graph
    that computes only that window of the output (``MouthWindows``, up to that many copies):
    the rows and columns paste-back never uses are not computed, and are 0.
    """

    def __init__(
        self,
        *,
        model_path: str | Path,
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
        parallel_runs: int = 1,
        min_slice: int = 2,
        face_cache_bytes: int = 0,
        mouth_windows: int = 0,
    ):
        import onnxruntime as ort

        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise FileNotFoundError(f"Wav2Lip model not found at {self.model_path}: {_FETCH_HINT}")
        if intra_op_threads is not None and (
            not isinstance(intra_op_threads, int) or intra_op_threads < 1
        ):
            raise ValueError(f"intra_op_threads must be a positive int, got {intra_op_threads!r}")
        for name, value in (("parallel_runs", parallel_runs), ("min_slice", min_slice)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        available = ort.get_available_providers()
        if providers is None:
            providers = [p for p in ("CUDAExecutionProvider",) if p in available]
            providers.append("CPUExecutionProvider")
        providers = list(providers)
        missing = [p for p in providers if p not in available]
        if not providers or missing:
            raise ValueError(f"providers {providers} not all available (have {available})")
        options = ort.SessionOptions()
        if intra_op_threads is not None:
            options.intra_op_num_threads = intra_op_threads
        try:
            self.session = ort.InferenceSession(str(self.model_path), options, providers=providers)
        except Exception as exc:  # ORT raises its own types for corrupt files
            raise ValueError(f"cannot load {self.model_path} as ONNX: {exc}") from exc
        self.providers = self.session.get_providers()
        self._mel_name, self._face_name = self._match_inputs()
        self._output_name = self.session.get_outputs()[0].name
        self.parallel_runs, self.min_slice = parallel_runs, min_slice
        self._pool = ThreadPoolExecutor(parallel_runs - 1) if parallel_runs > 1 else None
        if not isinstance(face_cache_bytes, int) or face_cache_bytes < 0:
            raise ValueError(f"face_cache_bytes must be an int >= 0, got {face_cache_bytes!r}")
        self.face_split_note = "off (face_cache_bytes 0)"
        self._face_encoder: CachedFaceEncoder | None = None
        self._decoder = None
        decoder_graph = None

        def make_session(graph: bytes):
            return ort.InferenceSession(graph, options, providers=providers)

        if face_cache_bytes:
            decoder_graph = self._split(make_session, face_cache_bytes)
        if not isinstance(mouth_windows, int) or mouth_windows < 0:
            raise ValueError(f"mouth_windows must be an int >= 0, got {mouth_windows!r}")
        self.mouth_windows: MouthWindows | None = None
        if mouth_windows:
            split = self._decoder is not None
            self.mouth_windows = MouthWindows(
                decoder_graph if split else self.model_path.read_bytes(),
                whole=self._decoder if split else self.session,
                output=self._output_name,
                size=OUTPUT_SHAPE[1:],
                make_session=make_session,
                max_variants=mouth_windows,
            )

    @property
    def face_cache(self) -> FaceFeatureCache | None:
        """The face encoder's cache; None when the whole graph runs."""
        return self._face_encoder.cache if self._face_encoder is not None else None

    def _match_inputs(self) -> tuple[str, str]:
        inputs = self.session.get_inputs()
        outputs = self.session.get_outputs()
        by_shape = {tuple(i.shape[1:]): i.name for i in inputs if len(i.shape) == 4}
        mel, face = by_shape.get(MEL_SHAPE), by_shape.get(FACE_SHAPE)
        out_ok = len(outputs) == 1 and tuple(outputs[0].shape[1:]) == OUTPUT_SHAPE
        if len(inputs) != 2 or mel is None or face is None or not out_ok:
            seen = [(i.name, i.shape) for i in inputs] + [(o.name, o.shape) for o in outputs]
            raise ValueError(
                f"{self.model_path} is not a Wav2Lip model: expected inputs [B,1,80,16] and "
                f"[B,6,96,96] and one output [B,3,96,96], got {seen}"
            )
        return mel, face

    def infer(self, mel: np.ndarray, faces: np.ndarray, *, window=None) -> np.ndarray:
        """Run one batch; ``B`` may be anything from 0 up (memory permitting). ``window``
        ``(y0, y1, x0, x1)``: only those rows and columns of the output are needed (the rest
        may be 0); it takes effect with ``mouth_windows`` > 0."""
        mel = np.ascontiguousarray(mel, dtype=np.float32)
        faces = np.ascontiguousarray(faces, dtype=np.float32)
        if mel.ndim != 4 or mel.shape[1:] != MEL_SHAPE:
            raise ValueError(f"mel must be [B, 1, 80, 16], got {mel.shape}")
        if faces.ndim != 4 or faces.shape[1:] != FACE_SHAPE:
            raise ValueError(f"faces must be [B, 6, 96, 96], got {faces.shape}")
        if mel.shape[0] != faces.shape[0]:
            raise ValueError(f"batch sizes differ: mel {mel.shape[0]}, faces {faces.shape[0]}")
        if mel.shape[0] == 0:
            return np.zeros((0, *OUTPUT_SHAPE), dtype=np.float32)
        session = None
        if self.mouth_windows is not None and window is not None:
            session = self.mouth_windows.session(window)
        runs = min(self.parallel_runs, len(mel) // self.min_slice)
        if runs <= 1:
            return self._run(mel, faces, session)
        bounds = np.linspace(0, len(mel), runs + 1).astype(int)
        slices = [
            (mel[a:b], faces[a:b], session) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        # The calling thread runs the first slice itself: runs - 1 pool threads suffice.
        rest = [self._pool.submit(self._run, *part) for part in slices[1:]]
        first = self._run(*slices[0])
        return np.concatenate([first, *(f.result() for f in rest)])

    def _run(self, mel: np.ndarray, faces: np.ndarray, session=None) -> np.ndarray:
        if self._decoder is None:
            feeds = {self._mel_name: mel, self._face_name: faces}
            (out,) = (session or self.session).run([self._output_name], feeds)
        else:
            feeds = {self._mel_name: mel, **self._face_encoder.features(faces)}
            (out,) = (session or self._decoder).run([self._output_name], feeds)
        return np.asarray(out, dtype=np.float32)

    def _split(self, make_session, max_bytes: int) -> bytes | None:
        """Face encoder and decoder sessions in place of the whole graph, if they agree; the
        decoder's serialised ONNX (None: the whole graph stays)."""
        try:
            encoder, self._decoder, decoder_graph = CachedFaceEncoder.load(
                self.model_path, whole=self.session, make_session=make_session,
                names=(self._mel_name, self._face_name, self._output_name), max_bytes=max_bytes,
            )  # fmt: skip
        except FaceSplitError as exc:
            self.face_split_note = f"whole graph: {exc}"
            log.warning("Wav2Lip face cache off for %s: %s", self.model_path.name, exc)
            return None
        self._face_encoder, self.face_split_note = encoder, encoder.note
        self.session = None  # the parts replace it: its weights are not kept twice
        release_freed_memory()
        return decoder_graph


def infer_mouths(runner, mel: np.ndarray, crops: np.ndarray, window=None) -> np.ndarray:
    """``mel [B,1,80,16]`` + RGB uint8 face ``crops [B,96,96,3]`` -> RGB uint8 mouths, through
    ``runner.infer`` (a ``Wav2LipRunner`` or anything with its ``infer``); ``window``: the
    part of the mouths that is used (``pasteback.mouth_window``; None: all of them)."""
    return output_to_rgb(runner.infer(mel, self_reference_input(crops), window=window))
