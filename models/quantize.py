"""Static int8 (QDQ) quantisation of the Wav2Lip ONNX model, calibrated on real inputs.

Activation ranges come from what the model really sees: the caller passes mel windows and face
inputs (``actors.engines.avatar.calibration`` makes them from espeak-ng speech and a prepared
portrait, the way the lip-sync stage does). Weights are quantised per output channel.
``onnxruntime.quantization`` (which needs ``onnx``) is imported only when quantising.
"""

from __future__ import annotations

import os
import platform
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from models.subpixel import rewrite_conv_transposes
from models.wav2lip_layers import FACE_SHAPE, MEL_SHAPE


def psnr(a: np.ndarray, b: np.ndarray, *, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of ``b`` against ``a`` (``inf`` when identical)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0.0 else float(10.0 * np.log10(peak**2 / mse))


@lru_cache(maxsize=1)
def _reader_class():
    from onnxruntime.quantization import CalibrationDataReader

    class Wav2LipCalibrationReader(CalibrationDataReader):
        """Batches of ``{mel_name: [b,1,80,16], face_name: [b,6,96,96]}`` until exhausted."""

        def __init__(self, mel, faces, names: tuple[str, str], batch_size: int):
            self.mel, self.faces, self.names, self.batch_size = mel, faces, names, batch_size
            self.start = 0

        def get_next(self):
            if self.start >= len(self.mel):
                return None
            part = slice(self.start, self.start + self.batch_size)
            self.start += self.batch_size
            return {self.names[0]: self.mel[part], self.names[1]: self.faces[part]}

        def rewind(self):
            self.start = 0

    return Wav2LipCalibrationReader


def _input_names(path: Path) -> tuple[str, str]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    by_shape = {tuple(i.shape[1:]): i.name for i in session.get_inputs()}
    if MEL_SHAPE not in by_shape or FACE_SHAPE not in by_shape:
        raise ValueError(f"{path} does not have Wav2Lip's inputs {MEL_SHAPE} and {FACE_SHAPE}")
    return by_shape[MEL_SHAPE], by_shape[FACE_SHAPE]


def _has_vnni() -> bool:
    """Whether this x86 CPU has VNNI; without it ORT advises 7-bit weights (reduce_range)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine().lower() not in ("x86_64", "amd64")
    return "avx512_vnni" in flags or "avx_vnni" in flags


def quantize_wav2lip(
    fp32_path: str | Path,
    int8_path: str | Path,
    mel: np.ndarray,
    faces: np.ndarray,
    *,
    per_channel: bool = True,
    reduce_range: bool | None = None,
    batch_size: int = 8,
) -> Path:
    """Write the int8 QDQ model calibrated on ``mel``/``faces`` to ``int8_path`` (atomically).

    ``reduce_range`` None: on for x86 CPUs without VNNI, where 8-bit products can saturate.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    fp32_path, int8_path = Path(fp32_path), Path(int8_path)
    mel = np.ascontiguousarray(mel, dtype=np.float32)
    faces = np.ascontiguousarray(faces, dtype=np.float32)
    if len(mel) == 0 or len(mel) != len(faces) or batch_size < 1:
        raise ValueError(f"need equal, non-empty mel/faces batches; got {len(mel)}, {len(faces)}")
    names = _input_names(fp32_path)
    reader = _reader_class()(mel, faces, names, batch_size)
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".quantize-", dir=int8_path.parent) as work:
        prepared, staged = Path(work) / "prepared.onnx", Path(work) / int8_path.name
        convs = Path(work) / "convs.onnx"
        # ORT has no int8 ConvTranspose on the CPU: as Convs the decoder runs in int8 too
        # (about 1.8x the frames/s of the same model quantised with its ConvTransposes).
        onnx.save(rewrite_conv_transposes(onnx.load(str(fp32_path)))[0], str(convs))
        quant_pre_process(str(convs), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(staged), reader,
            quant_format=QuantFormat.QDQ, per_channel=per_channel,
            reduce_range=(not _has_vnni()) if reduce_range is None else reduce_range,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )  # fmt: skip
        os.replace(staged, int8_path)
    return int8_path
