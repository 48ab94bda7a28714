"""A server at capacity: the page says so once, shows it is waiting, and gets in later.

Playwright's WebSocket route plays the full server for the first connections (an error
event ``capacity``, then close 1013, exactly what the ingress sends at ``max_sessions``) and
passes later ones through to the real app.
"""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.browser

REFUSALS = 2
CAPACITY = {
    "type": "error",
    "code": "capacity",
    "message": "the server is at capacity; please try again later",
}
# Every toast the page shows, and every text of its status line, in order (toasts fade after
# a few seconds). Observes the whole document from its creation, so nothing is missed
# however early it comes.
RECORD_PAGE = """
window.toastLog = [];
window.statusTexts = [];
new MutationObserver((records) => {
  for (const r of records) {
    const log = { toasts: window.toastLog, 'status-text': window.statusTexts }[r.target.id];
    if (log) for (const n of r.addedNodes) log.push(n.textContent);
  }
}).observe(document, { childList: true, subtree: true });
"""


def scheduled_retries_s(status_texts: list[str]) -> list[float]:
    """The retry delays the page scheduled, as its status line said them (one per busy close;
    the line is redrawn with the same text until the next attempt)."""
    delays, previous = [], None
    for text in status_texts:
        if text != previous and (m := re.search(r"server busy, retrying in (\d+\.\d) s", text)):
            delays.append(float(m.group(1)))
        previous = text
    return delays


class Doorman:
    """Refuses the first ``refusals`` connections like a full server; lets later ones in."""

    def __init__(self, refusals: int) -> None:
        self.refusals, self.seen = refusals, 0

    def route(self, ws) -> None:
        self.seen += 1
        if self.seen <= self.refusals:
            ws.send(json.dumps(CAPACITY))
            ws.close(code=1013, reason="server at capacity")
            return
        server = ws.connect_to_server()
        ws.on_message(server.send)
        server.on_message(ws.send)


def test_a_full_server_is_shown_as_busy_once_and_retried_slowly(chromium, app_url):
    context = chromium.new_context(
        viewport={"width": 1200, "height": 760},
        bypass_csp=True,  # Playwright's wait_for_function uses eval; test_security checks the CSP
    )
    try:
        context.add_init_script(RECORD_PAGE)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        doorman = Doorman(REFUSALS)
        page.route_web_socket(re.compile(r"/ws"), doorman.route)
        page.goto(app_url + "/")

        page.wait_for_function(
            "document.getElementById('status').innerText.includes('server busy, retrying in')",
            timeout=30_000,
            polling=50,
        )
        assert page.evaluate("window.avatarChat.status") == "connecting"
        page.wait_for_function("window.avatarChat.connected", timeout=60_000)
        assert doorman.seen == REFUSALS + 1

        # Two refusals, retried after 2 s and 4 s (less up to 15% jitter): not the 0.25 s and
        # 0.5 s of a dropped connection. Read from what the page scheduled (its status line
        # shows the delay given to its timer), not from how long the machine took.
        delays = scheduled_retries_s(page.evaluate("window.statusTexts"))
        assert len(delays) == REFUSALS, page.evaluate("window.statusTexts")
        assert 1.7 <= delays[0] <= 2.0 and 3.4 <= delays[1] <= 4.0, delays
        # And the page kept to them: it was not in before they had passed (its own timers set
        # this lower bound; the delays are shown rounded to 0.1 s).
        log = page.evaluate("window.avatarChat.statusLog")  # times from the page's start
        connected = next(s["at"] for s in log if s["status"] == "listening")
        assert connected >= 1000 * (sum(delays) - 0.1), (log, delays)
        toasts = page.evaluate("window.toastLog")
        assert sum("at capacity" in t for t in toasts) == 1, toasts  # said once, not per retry
        assert "server busy" not in page.inner_text("#status")

        page.fill("#message", "Hello after the wait.")
        page.click("#send")
        page.wait_for_function(
            "window.avatarChat.turns.some((t) => t.replyText.includes('Hello after the wait.'))",
            timeout=60_000,
        )
        assert errors == []
    finally:
        context.close()
