"""Model registry, fetching, Wav2Lip export, int8 quantisation and graph surgery (the face
encoder split off, the output cropped to a window).

Heavy dependencies (onnx, onnxruntime.quantization, torch) are imported only by the
functions that need them, so importing this package is cheap.
"""

from models.ensure import ModelUnavailable, ensure_model
from models.export import ExportError, convert_checkpoint, make_torch_wav2lip, state_dict_to_onnx
from models.face_split import FaceSplit, FaceSplitError, split_face_encoder
from models.fetch import ChecksumMismatch, DownloadError, FetchError, download, fetch_model
from models.output_window import crop_to_window
from models.quantize import psnr, quantize_wav2lip
from models.registry import (
    REGISTRY,
    ModelMissing,
    ModelSpec,
    find_model,
    get_spec,
    model_path,
    require_model,
    sha256_file,
)

__all__ = [
    "REGISTRY",
    "ChecksumMismatch",
    "DownloadError",
    "ExportError",
    "FaceSplit",
    "FaceSplitError",
    "FetchError",
    "ModelMissing",
    "ModelSpec",
    "ModelUnavailable",
    "convert_checkpoint",
    "crop_to_window",
    "download",
    "ensure_model",
    "fetch_model",
    "find_model",
    "get_spec",
    "make_torch_wav2lip",
    "model_path",
    "psnr",
    "quantize_wav2lip",
    "require_model",
    "sha256_file",
    "split_face_encoder",
    "state_dict_to_onnx",
]
