"""Fetching models from a real HTTP server on 127.0.0.1, and the Wav2Lip checkpoint export.

The server (``tests/fileserver.py``) stands in for MediaPipe's bucket (plain HTTP) and for the
Hugging Face Hub (``huggingface_hub`` with ``HF_ENDPOINT`` pointing at it).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from models.export import ExportError, check_state_dict, expected_shapes, layers, state_dict_to_onnx
from models.fetch import ChecksumMismatch, DownloadError, FetchError, fetch_model, payload_format
from models.registry import REGISTRY, sha256_file
from tests.fileserver import FileServer

pytestmark = pytest.mark.integration

DETECTOR = "face_detection_short_range"
TFLITE = f"{DETECTOR}.tflite"


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    srv = FileServer(root)
    yield srv
    srv.close()


@pytest.fixture
def models_dir(tmp_path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def hub(server, tmp_path, monkeypatch) -> FileServer:
    """The server as the Hugging Face Hub, with a Hub cache of the test's own."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_ENDPOINT", server.base)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    return server


def serve_detector(server: FileServer, shared_models: Path, name: str = TFLITE) -> str:
    shutil.copy(shared_models / TFLITE, server.root / name)
    return server.url(name)


def damaged_copy(source: Path, dest: Path) -> Path:
    """``source`` with one byte changed in the middle: the right size, the wrong sha256."""
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    return dest


def leftovers(models_dir: Path, keep: set[str] = frozenset()) -> list[str]:
    """Anything in the models dir besides the installed files (temp files, staging dirs)."""
    return sorted(p.name for p in models_dir.iterdir() if p.name not in keep)


def test_download_verifies_and_installs_with_a_progress_bar(
    server, models_dir, shared_models, capsys
):
    url = serve_detector(server, shared_models)
    path = fetch_model(DETECTOR, models_dir, url=url, progress=True)
    assert path == models_dir / TFLITE
    assert sha256_file(path) == REGISTRY[DETECTOR].sha256
    assert leftovers(models_dir, {path.name}) == []
    assert f"{DETECTOR}: 100%" in capsys.readouterr().err  # the tqdm bar reached the end


def test_registry_url_can_be_overridden_from_the_environment(
    server, models_dir, shared_models, monkeypatch
):
    monkeypatch.setenv("AVATAR_CHAT_FACE_DETECTOR_URL", serve_detector(server, shared_models))
    path = fetch_model(DETECTOR, models_dir, progress=False)
    assert server.requests == [f"/{TFLITE}"]
    assert sha256_file(path) == REGISTRY[DETECTOR].sha256


def test_wrong_checksum_installs_nothing(server, models_dir, shared_models):
    damaged_copy(shared_models / TFLITE, server.root / TFLITE)
    with pytest.raises(ChecksumMismatch, match=REGISTRY[DETECTOR].sha256):
        fetch_model(DETECTOR, models_dir, url=server.url(TFLITE), progress=False)
    assert leftovers(models_dir) == []


def test_cut_off_download_leaves_no_partial_file(server, models_dir, shared_models):
    serve_detector(server, shared_models)
    with pytest.raises(DownloadError, match="cut off after"):
        fetch_model(DETECTOR, models_dir, url=server.url(f"cut/{TFLITE}"), progress=False)
    assert server.requests == [f"/cut/{TFLITE}"]
    assert leftovers(models_dir) == []


def test_stalled_download_times_out_and_leaves_no_partial_file(server, models_dir, shared_models):
    serve_detector(server, shared_models)
    url = server.url(f"stall/{TFLITE}")
    with pytest.raises(DownloadError, match="timed out"):
        fetch_model(DETECTOR, models_dir, url=url, progress=False, timeout_s=0.5)
    assert leftovers(models_dir) == []


def test_http_error_is_reported(server, models_dir):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch_model(DETECTOR, models_dir, url=server.url("missing.tflite"), progress=False)
    assert leftovers(models_dir) == []


def test_installed_model_is_kept_unless_forced(server, models_dir, shared_models):
    url = serve_detector(server, shared_models)
    fetch_model(DETECTOR, models_dir, url=url, progress=False)
    fetch_model(DETECTOR, models_dir, url=url, progress=False)
    assert len(server.requests) == 1
    fetch_model(DETECTOR, models_dir, url=url, progress=False, force=True)
    assert len(server.requests) == 2


def test_from_file_is_verified_and_copied(models_dir, shared_models, tmp_path):
    damaged = damaged_copy(shared_models / TFLITE, tmp_path / TFLITE)
    with pytest.raises(ChecksumMismatch):
        fetch_model(DETECTOR, models_dir, from_file=damaged)
    assert leftovers(models_dir) == []
    path = fetch_model(DETECTOR, models_dir, from_file=shared_models / TFLITE)
    assert sha256_file(path) == REGISTRY[DETECTOR].sha256
    assert (shared_models / TFLITE).is_file()  # the source is left alone
    with pytest.raises(FetchError, match="faster-whisper"):
        fetch_model("silero_vad", models_dir)


def test_a_file_of_another_format_is_refused(models_dir, tmp_path):
    other = tmp_path / "detector.onnx"
    other.write_bytes(b"\x08\x07" + bytes(100))
    with pytest.raises(FetchError, match="looks like an ONNX model; .* needs a TFLite model"):
        fetch_model(DETECTOR, models_dir, from_file=other)
    assert leftovers(models_dir) == []


def test_a_tflite_that_does_not_load_is_refused_even_unverified(models_dir, tmp_path):
    junk = tmp_path / TFLITE
    junk.write_bytes(bytes(8) + b"not a flatbuffer" * 8)
    with pytest.raises(FetchError, match=f"not a usable {DETECTOR} model"):
        fetch_model(DETECTOR, models_dir, from_file=junk, verify=False)
    assert leftovers(models_dir) == []


HUB_PATH = "someone/face-models/resolve/main/mediapipe/face_detection_short_range.tflite"


def test_hub_url_downloads_through_huggingface_hub_into_its_cache(
    hub, models_dir, shared_models, tmp_path, capsys
):
    serve_detector(hub, shared_models)
    path = fetch_model(DETECTOR, models_dir, url=hub.url(HUB_PATH), progress=True)
    assert sha256_file(path) == REGISTRY[DETECTOR].sha256
    assert hub.requests[0] == f"HEAD /{HUB_PATH}"  # huggingface_hub's metadata call
    assert f"{DETECTOR}: 100%" in capsys.readouterr().err
    assert leftovers(models_dir, {TFLITE}) == []
    cached = list((tmp_path / "hf-cache").rglob(TFLITE))
    assert cached, "the download is kept in the Hub cache"

    # Another models dir, with the Hub gone: the Hub cache answers, nothing is downloaded.
    hub.close()
    again = fetch_model(DETECTOR, tmp_path / "models2", url=hub.url(HUB_PATH), progress=False)
    assert sha256_file(again) == REGISTRY[DETECTOR].sha256
    assert all(c.is_file() for c in cached)  # the cache's file was copied, not moved


def test_hub_download_is_checked_against_the_registry(hub, models_dir, shared_models):
    damaged_copy(shared_models / TFLITE, hub.root / TFLITE)
    with pytest.raises(ChecksumMismatch, match=REGISTRY[DETECTOR].sha256):
        fetch_model(DETECTOR, models_dir, url=hub.url(HUB_PATH), progress=False)
    assert leftovers(models_dir) == []


def test_wav2lip_env_override_goes_through_the_hub(hub, models_dir, monkeypatch):
    (hub.root / "wav2lip.pth").write_bytes(b"\x80\x02" + bytes(1000))  # a legacy torch pickle
    url = hub.url("mirror/Wav2Lip/resolve/main/checkpoints/wav2lip.pth")
    monkeypatch.setenv("AVATAR_CHAT_WAV2LIP_URL", url)
    with pytest.raises(ChecksumMismatch, match=REGISTRY["wav2lip"].sha256):
        fetch_model("wav2lip", models_dir, progress=False)
    assert hub.requests[0] == "HEAD /mirror/Wav2Lip/resolve/main/checkpoints/wav2lip.pth"
    assert leftovers(models_dir) == []


def test_offline_hub_without_a_cached_copy_is_a_download_error(hub, models_dir, monkeypatch):
    # HF_HUB_OFFLINE=1, as huggingface_hub reads it at import. (An unreachable Hub ends the
    # same way, after huggingface_hub's own retries: about 23 s.)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DownloadError, match="Hugging Face Hub"):
        fetch_model(DETECTOR, models_dir, url=hub.url(HUB_PATH), progress=False)
    assert hub.requests == [] and leftovers(models_dir) == []


def test_ready_wav2lip_onnx_is_checked_with_the_runner(server, models_dir, random_wav2lip):
    (server.root / "w2l.onnx").symlink_to(random_wav2lip)
    path = fetch_model("wav2lip", models_dir, url=server.url("w2l.onnx"), progress=False)
    assert path == models_dir / "wav2lip.onnx"
    assert sha256_file(path) == sha256_file(random_wav2lip)
    assert leftovers(models_dir, {"wav2lip.onnx"}) == []


def tiny_onnx(path: Path) -> Path:
    """A valid ONNX model that is not Wav2Lip: y = relu(x) on [1, 3]."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_onnx_that_is_not_wav2lip_is_refused(models_dir, tmp_path):
    with pytest.raises(FetchError, match="not a usable wav2lip model.*not a Wav2Lip model"):
        fetch_model("wav2lip", models_dir, from_file=tiny_onnx(tmp_path / "tiny.onnx"))
    assert leftovers(models_dir) == []


def test_checkpoint_without_torch_says_how_to_install_it(server, models_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    data = b"\x80\x02" + bytes(1000)  # starts like a legacy torch.save pickle
    (server.root / "w2l.pth").write_bytes(data)
    with pytest.raises(ChecksumMismatch):  # the registry's checksum is checked first
        fetch_model("wav2lip", models_dir, url=server.url("w2l.pth"), progress=False)
    digest = hashlib.sha256(data).hexdigest()
    with pytest.raises(FetchError, match=r'pip install "avatar-chat\[export\]"'):
        fetch_model("wav2lip", models_dir, url=server.url("w2l.pth"), progress=False, sha256=digest)
    assert leftovers(models_dir) == []


def test_payload_format_by_suffix_then_by_content(tmp_path):
    blob = tmp_path / "blob"
    for head, expected in (
        (b"PK\x03\x04", "pytorch"),
        (b"\x80\x02", "pytorch"),
        (b"\x08\x07", "onnx"),
        (b"\x1c\x00\x00\x00TFL3", "tflite"),
    ):
        blob.write_bytes(head + bytes(10))
        assert payload_format(blob) == expected
    assert payload_format(blob, "wav2lip.pth") == "pytorch"
    assert payload_format(blob, "model.onnx") == "onnx"
    assert payload_format(blob, "face_detection_short_range.tflite") == "tflite"


def test_published_state_dict_keys():
    shapes = expected_shapes()
    assert len(list(layers())) == 50 and len(shapes) == 50 * 6 + 2
    assert shapes["face_encoder_blocks.0.0.conv_block.0.weight"] == (16, 6, 7, 7)
    assert shapes["audio_encoder.3.conv_block.0.weight"] == (64, 32, 3, 3)
    assert shapes["face_decoder_blocks.1.0.conv_block.0.weight"] == (1024, 512, 3, 3)
    assert shapes["face_decoder_blocks.6.2.conv_block.1.running_var"] == (64,)
    assert shapes["output_block.0.conv_block.0.weight"] == (32, 80, 3, 3)
    assert shapes["output_block.1.weight"] == (3, 32, 1, 1)


def test_state_dict_check_names_what_is_wrong():
    state = {f"module.{k}": np.zeros(s, np.float32) for k, s in expected_shapes().items()}
    state["module.audio_encoder.0.conv_block.1.num_batches_tracked"] = np.array(3)
    clean = check_state_dict(state)
    assert set(clean) == set(expected_shapes())
    del state["module.output_block.1.bias"]
    state["module.extra.weight"] = np.zeros(1, np.float32)
    state["module.audio_encoder.0.conv_block.0.weight"] = np.zeros((32, 1, 5, 5), np.float32)
    with pytest.raises(ExportError) as info:
        check_state_dict(state)
    message = str(info.value)
    assert "output_block.1.bias" in message and "extra.weight" in message
    assert "audio_encoder.0.conv_block.0.weight (32, 1, 5, 5)" in message


def test_export_matches_the_reference_graph(random_wav2lip, tmp_path):
    """Weights of the random-weight graph, unfolded into Conv + BatchNorm checkpoint form with
    random statistics, must export to a graph that computes the same thing."""
    model = onnx.load(str(random_wav2lip))
    weights = iter(numpy_helper.to_array(t) for t in model.graph.initializer)
    rng = np.random.default_rng(7)
    state = {}
    for prefix, (kind, *_rest) in layers():
        w, b = next(weights), next(weights)
        cout = w.shape[1] if kind == "up" else w.shape[0]
        gamma, var = rng.uniform(0.5, 2.0, (2, cout)).astype(np.float32)
        beta, mean = rng.normal(0.0, 0.1, (2, cout)).astype(np.float32)
        scale = gamma / np.sqrt(var + 1e-5)
        axis = (None, slice(None)) if kind == "up" else (slice(None), None)
        state[f"module.{prefix}.conv_block.0.weight"] = w / scale[axis][..., None, None]
        state[f"module.{prefix}.conv_block.0.bias"] = (b - beta) / scale + mean
        for key, value in zip(("weight", "bias", "running_mean", "running_var"),
                              (gamma, beta, mean, var), strict=True):  # fmt: skip
            state[f"module.{prefix}.conv_block.1.{key}"] = value
    state["module.output_block.1.weight"], state["module.output_block.1.bias"] = weights
    exported = state_dict_to_onnx(state, tmp_path / "exported.onnx")

    feeds = {
        "mel": rng.uniform(-4, 4, (3, 1, 80, 16)).astype(np.float32),
        "face": rng.uniform(0, 1, (3, 6, 96, 96)).astype(np.float32),
    }
    (expected,) = ort.InferenceSession(str(random_wav2lip)).run(["output"], feeds)
    (got,) = ort.InferenceSession(str(exported)).run(["output"], feeds)
    assert got.shape == (3, 3, 96, 96)
    assert expected.std() > 0.01  # a non-trivial output to compare
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_torch_checkpoint_converts_and_matches_torch(models_dir, tmp_path):
    """Runs only where the optional [export] extra (torch) is installed."""
    torch = pytest.importorskip("torch")
    from models.export import make_torch_wav2lip

    net = make_torch_wav2lip().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so folding is exercised
        for name, buf in net.named_buffers():
            if name.endswith(("running_mean", "running_var")):
                buf.copy_(torch.rand_like(buf) * 0.5 + (0.75 if "var" in name else -0.25))
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "global_step": 1}, tmp_path / "w2l.pth")
    path = fetch_model("wav2lip", models_dir, from_file=tmp_path / "w2l.pth", verify=False)
    rng = np.random.default_rng(3)
    mel = rng.uniform(-4, 4, (2, 1, 80, 16)).astype(np.float32)
    face = rng.uniform(0, 1, (2, 6, 96, 96)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(mel), torch.from_numpy(face)).numpy()
    (got,) = ort.InferenceSession(str(path)).run(["output"], {"mel": mel, "face": face})
    np.testing.assert_allclose(got, expected, atol=1e-3)  # verify_onnx's bound
