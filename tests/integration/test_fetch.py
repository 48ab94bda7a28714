"""Fetching models from a real HTTP server on 127.0.0.1, and the Wav2Lip checkpoint export.

The server (stdlib http.server in a thread) serves files from a folder; ``/cut/NAME``
announces NAME's full length but sends half and hangs up, as a dropped connection does;
``/stall/NAME`` sends half and then goes quiet until the test ends.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from models.export import ExportError, check_state_dict, expected_shapes, layers, state_dict_to_onnx
from models.fetch import ChecksumMismatch, DownloadError, FetchError, fetch_model, payload_format
from models.registry import REGISTRY, sha256_file

pytestmark = pytest.mark.integration

DETECTOR = "face_detection_short_range"


class FileServer:
    def __init__(self, root: Path):
        self.root, self.requests = root, []
        self.release = threading.Event()
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                server.requests.append(self.path)
                mode, _, name = self.path.lstrip("/").partition("/")
                if mode not in ("cut", "stall"):
                    return super().do_GET()
                data = (root / name).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                if mode == "stall":
                    server.release.wait(timeout=30)
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{path}"

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


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


def leftovers(models_dir: Path, keep: set[str] = frozenset()) -> list[str]:
    """Anything in the models dir besides the installed files (temp files, staging dirs)."""
    return sorted(p.name for p in models_dir.iterdir() if p.name not in keep)


def test_download_verifies_and_installs_with_a_progress_bar(
    server, models_dir, shared_models, capsys
):
    shutil.copy(shared_models / f"{DETECTOR}.onnx", server.root / "detector.onnx")
    path = fetch_model(DETECTOR, models_dir, url=server.url("detector.onnx"), progress=True)
    assert path == models_dir / f"{DETECTOR}.onnx"
    assert sha256_file(path) == REGISTRY[DETECTOR].sha256
    assert leftovers(models_dir, {path.name}) == []
    assert f"{DETECTOR}: 100%" in capsys.readouterr().err  # the tqdm bar reached the end


def test_wrong_checksum_installs_nothing(server, models_dir, shared_models):
    # A valid ONNX file, but not the one the registry names.
    shutil.copy(shared_models / "face_landmark.onnx", server.root / "detector.onnx")
    with pytest.raises(ChecksumMismatch, match=REGISTRY[DETECTOR].sha256):
        fetch_model(DETECTOR, models_dir, url=server.url("detector.onnx"), progress=False)
    assert leftovers(models_dir) == []


def test_cut_off_download_leaves_no_partial_file(server, models_dir, shared_models):
    shutil.copy(shared_models / f"{DETECTOR}.onnx", server.root / "detector.onnx")
    with pytest.raises(DownloadError, match="cut off after"):
        fetch_model(DETECTOR, models_dir, url=server.url("cut/detector.onnx"), progress=False)
    assert server.requests == ["/cut/detector.onnx"]
    assert leftovers(models_dir) == []


def test_stalled_download_times_out_and_leaves_no_partial_file(server, models_dir, shared_models):
    shutil.copy(shared_models / f"{DETECTOR}.onnx", server.root / "detector.onnx")
    url = server.url("stall/detector.onnx")
    with pytest.raises(DownloadError, match="timed out"):
        fetch_model(DETECTOR, models_dir, url=url, progress=False, timeout_s=0.5)
    assert leftovers(models_dir) == []


def test_http_error_is_reported(server, models_dir):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch_model(DETECTOR, models_dir, url=server.url("missing.onnx"), progress=False)
    assert leftovers(models_dir) == []


def test_installed_model_is_kept_unless_forced(server, models_dir, shared_models):
    shutil.copy(shared_models / f"{DETECTOR}.onnx", server.root / "detector.onnx")
    url = server.url("detector.onnx")
    fetch_model(DETECTOR, models_dir, url=url, progress=False)
    fetch_model(DETECTOR, models_dir, url=url, progress=False)
    assert len(server.requests) == 1
    fetch_model(DETECTOR, models_dir, url=url, progress=False, force=True)
    assert len(server.requests) == 2


def test_from_file_is_verified_and_copied(models_dir, shared_models):
    with pytest.raises(ChecksumMismatch):
        fetch_model(DETECTOR, models_dir, from_file=shared_models / "face_landmark.onnx")
    assert leftovers(models_dir) == []
    path = fetch_model(DETECTOR, models_dir, from_file=shared_models / f"{DETECTOR}.onnx")
    assert sha256_file(path) == REGISTRY[DETECTOR].sha256
    assert (shared_models / f"{DETECTOR}.onnx").is_file()  # the source is left alone
    with pytest.raises(FetchError, match="no download URL"):
        fetch_model("face_landmark", models_dir)
    with pytest.raises(FetchError, match="faster-whisper"):
        fetch_model("silero_vad", models_dir)


def test_ready_wav2lip_onnx_is_checked_with_the_runner(server, models_dir, random_wav2lip):
    (server.root / "w2l.onnx").symlink_to(random_wav2lip)
    path = fetch_model("wav2lip", models_dir, url=server.url("w2l.onnx"), progress=False)
    assert path == models_dir / "wav2lip.onnx"
    assert sha256_file(path) == sha256_file(random_wav2lip)
    assert leftovers(models_dir, {"wav2lip.onnx"}) == []


def test_onnx_that_is_not_wav2lip_is_refused(models_dir, shared_models):
    with pytest.raises(FetchError, match="not a usable wav2lip model.*not a Wav2Lip model"):
        fetch_model("wav2lip", models_dir, from_file=shared_models / f"{DETECTOR}.onnx")
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
    ):
        blob.write_bytes(head + bytes(10))
        assert payload_format(blob) == expected
    assert payload_format(blob, "wav2lip.pth") == "pytorch"
    assert payload_format(blob, "model.onnx") == "onnx"


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
