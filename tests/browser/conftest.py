"""Headless Chromium (Debian's, not a Playwright download) against the running app.

The app itself comes from the session-wide ``app_url`` fixture (tests/conftest.py).
Playwright's sync API runs an event loop in this thread while it is open, so its fixtures are
package-scoped (closed before any later async test) and the browser tier runs last.
Playwright's sync API is used from plain sync fixtures and tests, outside any
asyncio event loop.
"""

from __future__ import annotations

import shutil
import wave
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


# The fake microphone: what the test WAV says, and its layout (Chromium loops the file).
MIC_QUESTION = "What is the weather like?"
MIC_WAV_RATE = 48000
MIC_WAV_GAPS_S = (1.0, 8.0)  # silence before and after: room to turn the mic off


def _chromium_executable() -> str:
    executable = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "headless Chromium not found at /usr/bin/chromium: install it with "
            "`apt-get install -y chromium` (the tests do not use `playwright install`)"
        )
    return str(executable)


@pytest.fixture(scope="package")
def playwright_driver() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def chromium(playwright_driver) -> Iterator[object]:
    """One headless Chromium for the whole session (contexts keep the tests apart)."""
    browser = playwright_driver.chromium.launch(
        executable_path=_chromium_executable(), args=CHROMIUM_ARGS
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def mic_wav(tmp_path_factory) -> Path:
    """16-bit mono WAV: 1 s silence, the spoken question (espeak-ng), 3 s silence."""
    from tests.fakes.speech import speech_with_silence

    pcm, _truth = speech_with_silence([MIC_QUESTION], MIC_WAV_GAPS_S, sample_rate=MIC_WAV_RATE)
    path = tmp_path_factory.mktemp("fake-mic") / "question.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(MIC_WAV_RATE)
        out.writeframes(pcm.astype("<i2").tobytes())
    return path


@pytest.fixture(scope="package")
def mic_chromium(playwright_driver, mic_wav: Path) -> Iterator[object]:
    """A second Chromium whose microphone plays ``mic_wav`` in a loop, permission granted."""
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",  # grant getUserMedia without a prompt
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={mic_wav}",
    ]
    browser = playwright_driver.chromium.launch(executable_path=_chromium_executable(), args=args)
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


def _open_page(browser, url: str) -> tuple[object, object]:
    context = browser.new_context(
        viewport={"width": 1200, "height": 760},
        bypass_csp=True,  # Playwright's wait_for_function uses eval; test_security checks the CSP
    )
    context.add_init_script(RECORD_SOCKETS)
    page = context.new_page()
    page.errors = []  # uncaught exceptions in the page: a test asserts there are none
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(url)
    return context, page


@pytest.fixture
def page(chromium, app_url: str) -> Iterator[object]:
    """A fresh page (own sessionStorage) with the web client loaded and page errors kept."""
    context, page = _open_page(chromium, app_url + "/")
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def mic_page(mic_chromium, app_url: str) -> Iterator[object]:
    """Like ``page``, in the browser whose microphone says ``MIC_QUESTION`` in a loop."""
    context, page = _open_page(mic_chromium, app_url + "/")
    try:
        yield page
    finally:
        context.close()
