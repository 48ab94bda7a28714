"""Shared fixtures: paths to the offline material beside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
ARTIFACTS = ROOT / "artifacts"


@pytest.fixture(scope="session")
def shared_models() -> Path:
    path = SHARED / "models"
    if not path.is_dir():
        pytest.fail(f"offline models expected at {path} (../shared/models beside the checkout)")
    return path


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
