"""What a session host process imports: each module it loads is paid once per host (memory
and start time), and a busy node runs many hosts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.shared import ROOT

pytestmark = pytest.mark.unit

# Heavy modules a session needs only for some engines or inputs: the OpenAI client (the
# openai engine imports it when built), ONNX Runtime (the VAD, on the first microphone
# audio), faster-whisper and CTranslate2 (ASR runs in its own deployment).
NOT_AT_IMPORT = ("openai", "onnxruntime", "faster_whisper", "ctranslate2", "torch")


def test_the_session_module_leaves_heavy_engines_unimported():
    code = (
        "import sys, actors.session.host, actors.pipeline.voice_input; "
        f"print([m for m in {NOT_AT_IMPORT!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
