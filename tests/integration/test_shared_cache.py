"""A fresh clone's test material: found beside the checkout, or fetched into a cache.

A local HTTP server (``tests/fileserver.py``) serving this run's material stands in for the
published sources; nothing reaches the real network. The last two tests run pytest itself
on a copy of ``tests/`` that has no ``../shared``: once filling its cache from the server,
once with nothing reachable, when it must stop with the message that says what to do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from models.registry import REGISTRY, sha256_file
from tests.fileserver import FileServer
from tests.shared import (
    MATERIAL,
    ROOT,
    SHARED,
    Material,
    MaterialMissing,
    fill_cache,
    locate,
    sources,
)

pytestmark = pytest.mark.integration

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: connection refused


@pytest.fixture
def server():
    srv = FileServer(SHARED)  # this run's material, served read-only as it is laid out
    yield srv
    srv.close()


def served(server: FileServer) -> list[Material]:
    return [Material(m.path, server.url(m.path), m.sha256) for m in MATERIAL]


def test_material_names_published_sources_and_checksums():
    detector = REGISTRY["face_detection_short_range"]
    assert MATERIAL[0] == Material(f"models/{detector.filename}", detector.url, detector.sha256)
    for item in MATERIAL:
        assert item.url.startswith("https://") and len(item.sha256) == 64
        assert sha256_file(SHARED / item.path) == item.sha256  # what ../shared has, too


def test_fill_cache_fetches_verifies_and_says_what_it_fetched(server, tmp_path):
    lines: list[str] = []
    fetched = fill_cache(tmp_path, served(server), progress=False, log=lines.append)
    assert fetched == [m.path for m in MATERIAL]
    for item in MATERIAL:
        assert sha256_file(tmp_path / item.path) == item.sha256
        assert any(item.path in line and server.url(item.path) in line for line in lines)
    assert not list(tmp_path.rglob(".fetch-*"))  # no staging left behind

    requests = len(server.requests)
    assert fill_cache(tmp_path, served(server), progress=False, log=lines.append) == []
    assert len(server.requests) == requests  # all there: nothing downloaded

    portrait = tmp_path / "data" / "portrait_astronaut.png"
    portrait.write_bytes(b"damaged")
    assert fill_cache(tmp_path, served(server), progress=False, log=lines.append) == [
        "data/portrait_astronaut.png"
    ]
    assert sha256_file(portrait) == MATERIAL[1].sha256


def test_a_wrong_download_is_refused_and_not_kept(server, tmp_path):
    wrong = [Material("data/portrait_astronaut.png", server.url(MATERIAL[0].path), "0" * 64)]
    with pytest.raises(MaterialMissing, match="portrait_astronaut.png: .* has sha256 3bc182eb"):
        fill_cache(tmp_path, wrong, progress=False)
    assert not (tmp_path / "data" / "portrait_astronaut.png").exists()
    assert not list(tmp_path.rglob(".fetch-*"))


def test_without_network_the_message_says_what_to_do(tmp_path):
    unreachable = [Material(m.path, f"{UNREACHABLE}/{m.path}", m.sha256) for m in MATERIAL]
    with pytest.raises(MaterialMissing) as info:
        fill_cache(tmp_path, unreachable, progress=False)
    message = str(info.value)
    for item in MATERIAL:
        assert f"{item.path}: download of {UNREACHABLE}/{item.path} failed" in message
    assert "no ../shared" in message and "AVATAR_CHAT_SHARED" in message
    assert str(tmp_path) in message and "network access" in message


def test_the_folder_is_the_variable_then_beside_the_checkout_then_the_cache(tmp_path):
    checkout = tmp_path / "clone" / "main"
    checkout.mkdir(parents=True)
    cache_env = {"AVATAR_CHAT_SHARED_CACHE": str(tmp_path / "cache")}
    assert locate(cache_env, checkout) == (tmp_path / "cache", True)
    assert locate({"XDG_CACHE_HOME": str(tmp_path)}, checkout) == (
        tmp_path / "avatar-chat" / "shared",
        True,
    )
    for name in ("models", "data"):
        (tmp_path / "clone" / "shared" / name).mkdir(parents=True)
    assert locate(cache_env, checkout) == (tmp_path / "clone" / "shared", False)
    env = {**cache_env, "AVATAR_CHAT_SHARED": str(tmp_path / "elsewhere")}
    assert locate(env, checkout) == (tmp_path / "elsewhere", False)


def test_a_mirror_replaces_every_source():
    mirrored = sources({"AVATAR_CHAT_SHARED_MIRROR": "http://mirror.local/shared/"})
    assert [m.url for m in mirrored] == [f"http://mirror.local/shared/{m.path}" for m in MATERIAL]
    assert [m.sha256 for m in mirrored] == [m.sha256 for m in MATERIAL]
    assert sources({}) == MATERIAL


def fresh_clone_pytest(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """pytest on a copy of tests/ with no shared/ beside it (the package stays installed)."""
    clone = tmp_path / "clone" / "main"
    shutil.copytree(ROOT / "tests", clone / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", clone / "pyproject.toml")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AVATAR_CHAT_")}
    args = [sys.executable, "-m", "pytest", "tests/unit/test_download.py", "-q"]
    return subprocess.run(
        [*args, "-p", "no:cacheprovider"], cwd=clone, env={**clean, **env},
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def test_a_fresh_clone_fills_its_cache_then_runs_offline(server, tmp_path):
    cache = tmp_path / "cache"
    env = {"AVATAR_CHAT_SHARED_CACHE": str(cache), "AVATAR_CHAT_SHARED_MIRROR": server.base}
    done = fresh_clone_pytest(tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout + done.stderr
    for item in MATERIAL:
        assert f"fetched {item.path} from {server.base}/{item.path}" in out
        assert sha256_file(cache / item.path) == item.sha256
    assert " passed" in out  # and then the tests ran, on the cache


def test_a_fresh_clone_offline_stops_at_once_saying_so(tmp_path):
    env = {"AVATAR_CHAT_SHARED_CACHE": str(tmp_path / "cache")}
    env["AVATAR_CHAT_SHARED_MIRROR"] = UNREACHABLE
    done = fresh_clone_pytest(tmp_path, env)
    assert done.returncode == 4
    out = done.stdout + done.stderr
    assert "offline test material not found" in out and "AVATAR_CHAT_SHARED" in out
    assert "passed" not in out
