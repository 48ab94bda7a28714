"""Page hardening and who may open /ws, in headless Chromium against the real app.

The app's own page, under its Content-Security-Policy, still connects and plays a reply
with no policy violation; a page of another origin (served from 127.0.0.2, which is not
one of the always-allowed localhost names) and a sandboxed frame (Origin ``null``) cannot
open the socket: the server answers their handshakes with HTTP 403, which Chromium reports
in the console. The shared token's page side: ``#token=`` is moved from the address bar into
the socket URL.
"""

from __future__ import annotations

import http.server
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.browser.waits import REPLY_TIMEOUT_MS

pytestmark = pytest.mark.browser

SECURITY_HEADERS = ("content-security-policy", "x-frame-options", "x-content-type-options")
# Before any page script: CSP violations and every WebSocket the page opens.
WATCH_PAGE = """
(() => {
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
  });
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); window.__sockets.push(this); }
  };
})();
"""
# Opens the app's socket and keeps what happened in window.result (or posts it to the parent).
PROBE_SCRIPT = """
const result = {open: false, error: false, closed: null, messages: 0};
const report = () => window.parent !== window
  ? window.parent.postMessage(JSON.stringify(result), '*') : (window.result = result);
const ws = new WebSocket(%(ws_url)r);
ws.onopen = () => { result.open = true; report(); };
ws.onmessage = () => { result.messages += 1; };
ws.onerror = () => { result.error = true; };
ws.onclose = (e) => { result.closed = e.code; report(); };
"""
PLAYING = """(() => {
  const v = document.getElementById('talk-video');
  return v.classList.contains('visible') && v.currentTime > 0.2
    && window.avatarChat.decodedFrames() > 0;
})()"""
SANDBOXED = """<!doctype html><script>
window.addEventListener('message', (e) => { window.result = JSON.parse(e.data); });
</script><iframe sandbox="allow-scripts" srcdoc="%s"></iframe>"""


class _Pages(http.server.BaseHTTPRequestHandler):
    pages: dict[str, str] = {}

    def do_GET(self) -> None:
        body = self.pages.get(self.path)
        if body is None:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def foreign_site(app_url: str) -> Iterator[str]:
    """Base URL of another origin (127.0.0.2) whose pages try to open the app's socket."""
    ws_url = app_url.replace("http://", "ws://", 1) + "/ws"
    probe = PROBE_SCRIPT % {"ws_url": ws_url}
    escaped = f"<script>{probe}</script>".replace("&", "&amp;").replace('"', "&quot;")
    handler = type("Pages", (_Pages,), {})
    handler.pages = {
        "/cross.html": f"<!doctype html><script>{probe}</script>",
        "/sandboxed.html": SANDBOXED % escaped,
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.2:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def watched(chromium):
    """``open(url) -> page`` in a fresh context; the page keeps console lines and errors."""
    context = chromium.new_context(viewport={"width": 1200, "height": 760})
    context.add_init_script(WATCH_PAGE)

    def open_page(url: str):
        page = context.new_page()
        page.console_lines, page.errors, page.responses = [], [], []
        page.on("console", lambda msg: page.console_lines.append(msg.text))
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.on("response", lambda response: page.responses.append(response))
        page.goto(url)
        return page

    try:
        yield open_page
    finally:
        context.close()


def _wait_until(page, expression: str, *, timeout_ms: float) -> None:
    """Poll ``expression`` with ``page.evaluate`` until truthy.

    Not ``wait_for_function``: Playwright polls that with ``eval`` inside the page, which the
    page's policy (rightly, no 'unsafe-eval') refuses; ``evaluate`` goes through DevTools.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        # A blocked resource would only show as a timeout here: say which, at once.
        assert page.evaluate("window.__cspViolations") == []
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_ms} ms: {expression}")
        page.wait_for_timeout(50)


def _assert_hardened(headers: dict[str, str], what: str) -> None:
    for name in SECURITY_HEADERS:
        assert name in headers, f"{what} lacks {name}"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_the_page_works_under_its_policy_and_every_response_is_hardened(watched, app_url):
    page = watched(app_url + "/")
    _wait_until(page, "window.avatarChat.status === 'listening'", timeout_ms=60_000)
    assert page.evaluate("window.avatarChat.sessionId")

    page.fill("#message", "Does the page still work?")
    page.click("#send")
    _wait_until(page, "window.avatarChat.status === 'speaking'", timeout_ms=REPLY_TIMEOUT_MS)
    _wait_until(page, PLAYING, timeout_ms=30_000)  # MSE (blob: media) under the policy
    _wait_until(page, "window.avatarChat.status === 'listening'", timeout_ms=REPLY_TIMEOUT_MS)
    assert page.evaluate("window.avatarChat.turns[0].outcome") == "ended"

    assert page.evaluate("window.__cspViolations") == []
    policy_lines = [t for t in page.console_lines if "Content Security Policy" in t]
    assert policy_lines == []
    assert page.errors == []

    seen = {r.url.removeprefix(app_url): r for r in page.responses if r.url.startswith(app_url)}
    for path in ("/", "/static/app.js", "/static/socket.js", "/static/style.css", "/idle.mp4"):
        assert path in seen, f"the page did not load {path}: {sorted(seen)}"
        _assert_hardened(seen[path].all_headers(), path)
    with urllib.request.urlopen(app_url + "/healthz", timeout=30) as health:
        _assert_hardened({k.lower(): v for k, v in health.headers.items()}, "/healthz")


def _probe(page) -> dict:
    page.wait_for_function(
        "window.result && (window.result.open || window.result.closed !== null)", timeout=30_000
    )
    return page.evaluate("window.result")


def _refused_by_server(page) -> bool:
    # Chromium's own console line for a handshake answered with an HTTP status, not 101.
    return any("handshake" in t and "403" in t for t in page.console_lines)


def test_a_page_of_another_origin_cannot_open_the_socket(watched, foreign_site):
    page = watched(foreign_site + "/cross.html")
    result = _probe(page)
    assert result == {"open": False, "error": True, "closed": 1006, "messages": 0}
    assert _refused_by_server(page), page.console_lines


def test_a_sandboxed_frame_with_origin_null_cannot_open_the_socket(watched, foreign_site):
    page = watched(foreign_site + "/sandboxed.html")
    result = _probe(page)
    assert result == {"open": False, "error": True, "closed": 1006, "messages": 0}
    assert _refused_by_server(page), page.console_lines


def test_the_token_in_the_fragment_goes_to_the_socket_not_the_address_bar(watched, app_url):
    page = watched(app_url + "/#token=tok-123&view=compact")
    _wait_until(page, "window.avatarChat.connected", timeout_ms=60_000)
    first = page.evaluate("window.__sockets[0].url")
    assert "token=tok-123" in first
    assert "tok-123" not in page.url
    assert page.evaluate("window.location.hash") == "#view=compact"  # the rest is kept

    page.reload()  # the token outlives a reload (sessionStorage), still out of sight
    _wait_until(page, "window.avatarChat.connected", timeout_ms=60_000)
    assert "token=tok-123" in page.evaluate("window.__sockets[0].url")
    assert "tok-123" not in page.url
    assert page.errors == []
    assert page.evaluate("window.__cspViolations") == []
