"""Shared fixtures: paths to the test material (``tests/shared.py`` says where it lives)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tests.shared import FROM_CACHE, MISSING_HINT, ROOT, SHARED, MaterialMissing, fill_cache

ARTIFACTS = ROOT / "artifacts"


def pytest_sessionstart(session) -> None:
    # One clear message instead of dozens of failures on missing files.
    if FROM_CACHE:  # a fresh clone: fetch the material from its published sources, once
        capture = session.config.pluginmanager.getplugin("capturemanager")
        # Shown as they happen (progress bars too), not swallowed by pytest's capture.
        shown = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
        try:
            with shown:
                fill_cache(SHARED)
        except MaterialMissing as exc:
            pytest.exit(str(exc), returncode=4)
    elif not (SHARED / "models").is_dir() or not (SHARED / "data").is_dir():
        pytest.exit(MISSING_HINT, returncode=4)


def pytest_report_header(config) -> str:
    where = "cache, filled from published sources" if FROM_CACHE else "offline material"
    return f"avatar-chat test material ({where}): {SHARED}"


@pytest.fixture(scope="session")
def shared_models() -> Path:
    return SHARED / "models"


@pytest.fixture(scope="session")
def random_wav2lip(tmp_path_factory) -> Path:
    """A random-weight Wav2Lip ONNX model (same layers and compute as the published one).

    ~145 MB and a few seconds to build: once per test session, shared read-only.
    """
    from models.wav2lip_graph import build_wav2lip_onnx

    return build_wav2lip_onnx(tmp_path_factory.mktemp("wav2lip") / "wav2lip.onnx", seed=0)


@pytest.fixture(scope="session")
def wav2lip_models_dir(tmp_path_factory, random_wav2lip) -> Path:
    """A read-only models dir holding ``random_wav2lip`` as wav2lip.onnx."""
    path = tmp_path_factory.mktemp("models")
    (path / "wav2lip.onnx").symlink_to(random_wav2lip)
    return path


@pytest.fixture(scope="session")
def astro_pack(tmp_path_factory, shared_models):
    """``(avatars_dir, pack)``: the portrait prepared once as avatar 'astro' (read-only)."""
    from actors.engines.avatar.prepare import prepare_avatar

    avatars = tmp_path_factory.mktemp("avatars")
    portrait = SHARED / "data" / "portrait_astronaut.png"
    pack = prepare_avatar(portrait, name="astro", avatars_dir=avatars, models_dir=shared_models)
    return avatars, pack


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def app_url():
    """Base URL of the avatar-chat app on real local Ray + Serve (offline: echo LLM, espeak)."""
    from tests.serve_fixtures import running_app

    with running_app() as base:
        yield base
