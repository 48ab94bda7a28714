"""Model registry, fetching, Wav2Lip export and int8 quantisation.

Heavy dependencies (onnx, onnxruntime.quantization, torch) are imported only by the
functions that need them, so importing this package is cheap.
"""

from models.ensure import ModelUnavailable, ensure_model
from models.export import ExportError, convert_checkpoint, make_torch_wav2lip, state_dict_to_onnx
from models.fetch import ChecksumMismatch, DownloadError, FetchError, download, fetch_model
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
    "FetchError",
    "ModelMissing",
    "ModelSpec",
    "ModelUnavailable",
    "convert_checkpoint",
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
    "state_dict_to_onnx",
]
