"""A reply whose media arrives slower than real time (Wav2Lip on a small CPU does this).

The page's WebSocket is routed through Playwright, which holds the reply's media after its
first second: playback runs dry, the face fades back to the idle loop instead of freezing,
the status line says "buffering", and when the media comes the reply talks on to its end.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.waits import REPLY_TIMEOUT_MS

pytestmark = pytest.mark.browser

PASSED_MEDIA = 3  # init + the 10- and 15-frame fragments: one second, then nothing


class MediaValve:
    """Forwards the app's socket both ways; holds media messages after the first few."""

    def __init__(self) -> None:
        self.passed, self.held, self.open, self.page_side = 0, [], False, None

    def route(self, ws) -> None:
        server = ws.connect_to_server()
        self.page_side = ws
        ws.on_message(server.send)
        server.on_message(self._to_page)

    def _to_page(self, message) -> None:
        if isinstance(message, bytes) and not self.open:
            if self.passed >= PASSED_MEDIA:
                self.held.append(message)
                return
            self.passed += 1
        self.page_side.send(message)

    def release(self) -> None:
        self.open = True
        while self.held:
            self.page_side.send(self.held.pop(0))


def _wait_held(page, valve: MediaValve, timeout_s: float = REPLY_TIMEOUT_MS / 1000) -> None:
    """Until the valve holds media. Polled in Python (it counts there); Playwright delivers
    the socket's messages to the valve while the page waits."""
    deadline = time.monotonic() + timeout_s
    while not valve.held:
        assert time.monotonic() < deadline, "the reply had no media after its first second"
        page.wait_for_timeout(50)  # a poll interval, not a wait for something to happen


def test_media_slower_than_real_time_goes_idle_then_talks_on_to_the_end(chromium, app_url):
    context = chromium.new_context(
        viewport={"width": 1200, "height": 760},
        bypass_csp=True,  # Playwright's wait_for_function uses eval; test_security checks the CSP
    )
    try:
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        valve = MediaValve()
        page.route_web_socket(re.compile(r"/ws"), valve.route)
        page.goto(app_url + "/")
        page.wait_for_function("window.avatarChat.status === 'listening'", timeout=60_000)
        page.fill("#message", "Tell me about the stars, the moon and the long night sky, please.")
        page.click("#send")

        page.wait_for_function(
            "window.avatarChat.turns.length === 1 && window.avatarChat.turns[0].stalls > 0",
            timeout=REPLY_TIMEOUT_MS,
            polling=50,
        )
        talk_visible = "document.getElementById('talk-video').classList.contains('visible')"
        assert not page.evaluate(talk_visible), "a stalled reply must not hold a frozen face"
        page.wait_for_function("window.avatarChat.status === 'buffering'", timeout=30_000)
        # A slow server may run playback dry before its next fragment exists: wait for the
        # valve to hold some (it forwards nothing more until released, so the stall lasts).
        _wait_held(page, valve)
        assert "buffering" in page.inner_text("#status")
        assert page.is_enabled("#interrupt")  # a stalled reply can still be stopped

        valve.release()
        page.wait_for_function(
            "window.avatarChat.status === 'listening'", timeout=REPLY_TIMEOUT_MS, polling=50
        )
        [turn] = page.evaluate("window.avatarChat.turns")
        assert turn["outcome"] == "ended"
        # It talked again after the stall, and played past the first second.
        statuses = [s["status"] for s in page.evaluate("window.avatarChat.statusLog")]
        first = statuses.index("speaking")
        assert "speaking" in statuses[statuses.index("buffering", first) :], statuses
        assert turn["decodedFrames"] > 25 + 5
        assert errors == []
    finally:
        context.close()
