"""Which URLs go to the Hugging Face Hub, and as which (repo_id, filename, revision)."""

from __future__ import annotations

import pytest

from models.download import HubFile, hub_file
from models.registry import REGISTRY

pytestmark = pytest.mark.unit

NO_ENV: dict[str, str] = {}


def test_the_registry_wav2lip_urls_are_hub_files():
    assert hub_file(REGISTRY["wav2lip"].url, NO_ENV) == HubFile(
        endpoint="https://huggingface.co",
        repo_id="camenduru/Wav2Lip",
        filename="checkpoints/wav2lip.pth",
        revision="main",
    )
    assert hub_file(REGISTRY["wav2lip_gan"].url, NO_ENV).filename == "checkpoints/wav2lip_gan.pth"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://hf.co/org/repo/resolve/v1.0/model.onnx",
            HubFile("https://hf.co", "org/repo", "model.onnx", "v1.0"),
        ),
        (  # the web page's address of the file, and a query string
            "https://huggingface.co/org/repo/blob/main/a/b/c.pth?download=true",
            HubFile("https://huggingface.co", "org/repo", "a/b/c.pth", "main"),
        ),
        (  # an encoded revision is one path segment
            "https://huggingface.co/org/repo/resolve/refs%2Fpr%2F3/w.pth",
            HubFile("https://huggingface.co", "org/repo", "w.pth", "refs/pr/3"),
        ),
        (
            "https://huggingface.co/datasets/org/data/resolve/0123abc/x.bin",
            HubFile("https://huggingface.co", "org/data", "x.bin", "0123abc", "dataset"),
        ),
        (
            "https://HuggingFace.co/spaces/org/app/resolve/main/w.pth",
            HubFile("https://HuggingFace.co", "org/app", "w.pth", "main", "space"),
        ),
    ],
)
def test_hub_urls_are_parsed(url, expected):
    assert hub_file(url, NO_ENV) == expected


@pytest.mark.parametrize(
    "url",
    [
        REGISTRY["face_detection_short_range"].url,  # MediaPipe's bucket: plain HTTP
        "https://huggingface.co/Systran/faster-whisper-base",  # a repository, not a file
        "https://huggingface.co/org/repo/tree/main/checkpoints",
        "https://huggingface.co/org/repo/resolve/main",  # no file
        "https://example.org/org/repo/resolve/main/w.pth",  # Hub-shaped, but not the Hub
        "ftp://huggingface.co/org/repo/resolve/main/w.pth",
    ],
)
def test_other_urls_are_not_hub_files(url):
    assert hub_file(url, NO_ENV) is None


def test_a_mirror_named_by_hf_endpoint_counts_as_the_hub():
    env = {"HF_ENDPOINT": "http://127.0.0.1:8765"}
    url = "http://127.0.0.1:8765/org/repo/resolve/main/w.pth"
    assert hub_file(url, env) == HubFile("http://127.0.0.1:8765", "org/repo", "w.pth", "main")
    assert hub_file(url, NO_ENV) is None
    assert hub_file("http://127.0.0.1:9999/org/repo/resolve/main/w.pth", env) is None
