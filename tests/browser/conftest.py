"""Headless Chromium (Debian's, not a Playwright download) against the running app.

The app itself comes from the session-wide ``app_url`` fixture (tests/conftest.py).
Playwright's sync API is used from plain sync fixtures and tests, outside any
asyncio event loop.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--autoplay-policy=no-user-gesture-required",  # replies have sound; no real user here
    "--no-sandbox",  # root in a container has no user namespaces for the sandbox
    "--disable-dev-shm-usage",
    "--mute-audio",  # play the audio track (the test needs it) without a sound device
]


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """One headless Chromium for the whole session (contexts keep the tests apart)."""
    executable = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "headless Chromium not found at /usr/bin/chromium: install it with "
            "`apt-get install -y chromium` (the tests do not use `playwright install`)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# Keeps every WebSocket the page opens in window.__sockets, so a test can drop one.
RECORD_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); window.__sockets.push(this); }
  };
})();
"""


@pytest.fixture
def page(chromium, app_url: str) -> Iterator[object]:
    """A fresh page (own sessionStorage) with the web client loaded and page errors kept."""
    context = chromium.new_context(viewport={"width": 1200, "height": 760})
    context.add_init_script(RECORD_SOCKETS)
    page = context.new_page()
    page.errors = []  # uncaught exceptions in the page: a test asserts there are none
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(app_url + "/")
    try:
        yield page
    finally:
        context.close()
