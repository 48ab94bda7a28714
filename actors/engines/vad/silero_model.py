"""The Silero VAD ONNX model, one InferenceSession per process.

The model ships inside the faster-whisper package (``assets/silero_vad_v*.onnx``) and
runs on onnxruntime. It scores 512-sample windows (32 ms at 16 kHz), each preceded by
the previous window's last 64 samples as context, and carries an LSTM state ``h``/``c``
(``[1, 1, 128]`` each) from window to window. A batch of windows is scored as one
sequence, so a whole feed is scored in one ``run`` with the same result as window by
window. ``run`` is thread-safe, so every stream in the process shares the session; the
streams' state lives in ``actors.engines.vad.silero.SileroVAD``.
"""

from __future__ import annotations

import functools
import glob
import os

import numpy as np

WINDOW = 512  # samples per scored window at 16 kHz
CONTEXT = 64  # samples of the previous window prepended to each window


class SileroModel:
    """The ONNX session, shared by every stream in the process: ``score`` is stateless."""

    def __init__(self, path: str | None = None):
        self.path = path or _bundled_model_path()
        import onnxruntime  # here: a process that never hears audio never loads it

        opts = onnxruntime.SessionOptions()
        # One thread per call: windows are tiny and a server runs many streams at once.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            self.path, sess_options=opts, providers=["CPUExecutionProvider"]
        )

    def score(
        self, windows: np.ndarray, h: np.ndarray, c: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Speech probability per ``[N, 576]`` float window, and the LSTM state after them."""
        probs, h, c = self.session.run(None, {"input": windows, "h": h, "c": c})
        return probs.reshape(-1), h, c


def _bundled_model_path() -> str:
    import faster_whisper

    assets = os.path.join(os.path.dirname(faster_whisper.__file__), "assets")
    found = sorted(glob.glob(os.path.join(assets, "silero_vad*.onnx")))
    if not found:
        raise FileNotFoundError(f"no silero_vad*.onnx in {assets} (faster-whisper's assets)")
    return found[-1]


@functools.lru_cache(maxsize=1)
def shared_model() -> SileroModel:
    """The process-wide model, loaded on first use."""
    return SileroModel()
