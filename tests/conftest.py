"""Shared fixtures: paths to the offline material beside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared import MISSING_HINT, ROOT, SHARED

ARTIFACTS = ROOT / "artifacts"


def pytest_sessionstart(session) -> None:
    # One clear message instead of dozens of failures on missing files.
    if not (SHARED / "models").is_dir() or not (SHARED / "data").is_dir():
        pytest.exit(MISSING_HINT, returncode=4)


def pytest_report_header(config) -> str:
    return f"avatar-chat offline material: {SHARED}"


@pytest.fixture(scope="session")
def shared_models() -> Path:
    return SHARED / "models"


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
