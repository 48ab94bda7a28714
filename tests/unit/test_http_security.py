"""Who may open /ws (origin allowlist, shared token) and the security headers of the page."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from serve_app.http_security import (
    CLOSE_POLICY,
    CONTENT_SECURITY_POLICY,
    SecurityHeaders,
    SocketGate,
    normalise_origin,
    origin_refusal,
    read_token,
    socket_refusal,
    token_refusal,
)

pytestmark = pytest.mark.unit

LISTED = frozenset({"https://chat.example.com", "http://kiosk.lan:8080"})


def _origin(origin, host="chat.internal:8000", allowed=LISTED):
    return origin_refusal(origin, host=host, allowed=allowed)


# ---- origin ------------------------------------------------------------------------------


def test_no_origin_is_a_non_browser_client_and_allowed():
    assert _origin(None) is None
    assert _origin(None, host=None) is None


@pytest.mark.parametrize("origin", ["null", "NULL", " null "])
def test_null_origin_is_refused(origin):
    assert _origin(origin) == "origin_null"


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://chat.internal:8000", "chat.internal:8000"),
        ("https://chat.internal:8000", "chat.internal:8000"),  # TLS ended by a proxy
        ("HTTP://Chat.Internal:8000", "chat.internal:8000"),
        ("https://chat.internal", "chat.internal"),  # default ports on both sides
        ("https://chat.internal", "chat.internal:443"),
        ("http://chat.internal:80", "chat.internal"),
        ("http://[2001:db8::1]:8000", "[2001:db8::1]:8000"),
    ],
)
def test_the_pages_own_origin_is_allowed(origin, host):
    assert _origin(origin, host=host, allowed=frozenset()) is None


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://chat.internal:8001", "chat.internal:8000"),  # another port
        ("http://chat.internal", "chat.internal:8000"),  # default 80 is not 8000
        ("https://chat.internal", "chat.internal:80"),
        ("http://evil.chat.internal:8000", "chat.internal:8000"),
        ("http://chat.internal.evil.test:8000", "chat.internal:8000"),
        ("http://chat.internal:8000", None),  # no Host header: nothing to compare
        ("http://chat.internal:8000", "chat.internal:notaport"),
    ],
)
def test_other_hosts_and_ports_are_refused(origin, host):
    assert _origin(origin, host=host, allowed=frozenset()) == "origin_not_allowed"


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:5173",
        "https://localhost",
        "http://127.0.0.1:1",
        "http://[::1]:9000",
    ],
)
def test_localhost_on_any_port_is_allowed(origin):
    assert _origin(origin, allowed=frozenset()) is None


@pytest.mark.parametrize("origin", ["http://127.0.0.2:8000", "http://localhost.evil.test"])
def test_only_the_named_loopback_hosts_count_as_localhost(origin):
    assert _origin(origin, allowed=frozenset()) == "origin_not_allowed"


@pytest.mark.parametrize(
    "origin",
    [
        "https://chat.example.com",
        "HTTPS://CHAT.EXAMPLE.COM",
        "https://chat.example.com/",
        "https://chat.example.com:443",
        "http://kiosk.lan:8080",
    ],
)
def test_listed_origins_are_allowed(origin):
    assert _origin(origin) is None


@pytest.mark.parametrize(
    "origin",
    [
        "http://chat.example.com",  # listed with https only
        "https://chat.example.com:8443",
        "https://sub.chat.example.com",
        "http://kiosk.lan",
    ],
)
def test_unlisted_variants_are_refused(origin):
    assert _origin(origin) == "origin_not_allowed"


@pytest.mark.parametrize(
    "origin",
    ["file://", "chrome-extension://abcdef", "https://", "http://x:99999", "http://a/b", "junk"],
)
def test_malformed_or_non_http_origins_are_refused(origin):
    assert _origin(origin) == "origin_invalid"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("HTTPS://Chat.Example.com/", "https://chat.example.com"),
        ("https://chat.example.com:443", "https://chat.example.com"),
        ("http://kiosk.lan:8080", "http://kiosk.lan:8080"),
        ("http://[::1]:80", "http://[::1]"),
    ],
)
def test_normalise_origin(given, expected):
    assert normalise_origin(given) == expected


@pytest.mark.parametrize("bad", ["null", "example.com", "https://example.com/path", "ftp://x"])
def test_normalise_origin_rejects_what_is_not_an_origin(bad):
    with pytest.raises(ValueError):
        normalise_origin(bad)


def test_a_gate_with_an_unusable_allowlist_entry_does_not_start():
    with pytest.raises(ValueError, match="origin"):
        SocketGate(allowed_origins=["example.com"], token=None)


# ---- token -------------------------------------------------------------------------------


def test_no_token_configured_lets_everyone_in():
    assert token_refusal(None, token=None) is None
    assert token_refusal("anything", token=None) is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [("s3cret", None), (None, "token_missing"), ("", "token_missing"), ("S3CRET", "token_wrong")],
)
def test_a_configured_token_must_match_exactly(given, expected):
    assert token_refusal(given, token="s3cret") == expected


def test_a_non_ascii_token_is_compared_not_crashed_on():
    assert token_refusal("é", token="s3cret") == "token_wrong"
    assert token_refusal("é", token="é") is None


def test_read_token_from_the_environment():
    assert read_token({"AVATAR_CHAT_TOKEN": " abc "}) == "abc"
    assert read_token({"AVATAR_CHAT_TOKEN": "  "}) is None
    assert read_token({}) is None


def test_origin_is_checked_before_the_token():
    common = {"host": "h:1", "allowed": frozenset(), "token": "t"}
    assert socket_refusal(origin="null", token_given="t", **common) == "origin_null"
    assert socket_refusal(origin=None, token_given=None, **common) == "token_missing"
    assert socket_refusal(origin="http://h:1", token_given="t", **common) is None


# ---- the gate on a real Starlette WebSocket ----------------------------------------------


def _socket_app(gate: SocketGate) -> Starlette:
    async def ws(websocket):
        if not await gate.admit(websocket):
            return
        await websocket.accept()
        await websocket.send_json({"type": "session"})
        await websocket.close()

    return Starlette(routes=[WebSocketRoute("/ws", ws)])


def _refused(client: TestClient, url: str, **kwargs) -> int:
    with pytest.raises(WebSocketDisconnect) as info:
        with client.websocket_connect(url, **kwargs):
            pass
    return info.value.code


def test_gate_refuses_before_accept_and_counts_the_refusal(caplog):
    recorded: list[str] = []
    gate = SocketGate(allowed_origins=[], token="s3cret", record=recorded.append)
    client = TestClient(_socket_app(gate), base_url="http://testserver")
    evil = {"origin": "http://evil.test"}
    with caplog.at_level("WARNING", logger="avatar_chat.ingress"):
        assert _refused(client, "/ws?token=s3cret", headers=evil) == CLOSE_POLICY
        assert _refused(client, "/ws") == CLOSE_POLICY
        assert _refused(client, "/ws?session=abc&token=guess42") == CLOSE_POLICY
    assert recorded == ["origin_refused", "token_refused", "token_refused"]
    assert "s3cret" not in caplog.text and "guess42" not in caplog.text
    assert "origin_not_allowed" in caplog.text and "evil.test" in caplog.text
    assert "s3cret" not in repr(gate)

    own = {"origin": "http://testserver"}
    for url in ("/ws?token=s3cret", "/ws?session=abc&token=s3cret"):
        with client.websocket_connect(url, headers=own) as ws:
            assert ws.receive_json() == {"type": "session"}
    assert len(recorded) == 3


def test_gate_from_env_reads_the_token():
    gate = SocketGate.from_env(allowed_origins=[], environ={"AVATAR_CHAT_TOKEN": "t"})
    assert gate.token_required
    assert not SocketGate.from_env(allowed_origins=[], environ={}).token_required


# ---- security headers --------------------------------------------------------------------


def _headers_app() -> Starlette:
    async def plain(request):
        return PlainTextResponse("hi")

    async def own_policy(request):
        return Response("x", headers={"Content-Security-Policy": "default-src 'none'"})

    async def stream(request):
        async def chunks():
            for i in range(3):
                yield f"chunk{i};".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    async def ws(websocket):
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    routes = [
        Route("/", plain),
        Route("/own", own_policy),
        Route("/stream", stream),
        WebSocketRoute("/ws", ws),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])


def _assert_security_headers(response) -> None:
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_every_http_response_gets_the_headers_once():
    client = TestClient(_headers_app())
    for path in ("/", "/stream", "/missing"):
        response = client.get(path)
        _assert_security_headers(response)
        assert len(response.headers.get_list("x-frame-options")) == 1
    assert client.get("/stream").text == "chunk0;chunk1;chunk2;"


def test_a_routes_own_header_is_kept():
    response = TestClient(_headers_app()).get("/own")
    assert response.headers.get_list("content-security-policy") == ["default-src 'none'"]
    assert response.headers["x-frame-options"] == "DENY"


def test_websockets_pass_through_the_middleware():
    with TestClient(_headers_app()).websocket_connect("/ws") as ws:
        assert ws.receive_text() == "hello"


async def test_headers_over_the_httpx_asgi_transport():
    import httpx

    transport = httpx.ASGITransport(app=_headers_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        _assert_security_headers(await client.get("/"))


def test_csp_allows_what_the_page_needs_and_forbids_framing():
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "blob:" in directives["media-src"]  # MediaSource URLs in <video>
    assert "data:" in directives["img-src"]  # the favicon
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert "script-src" not in directives  # scripts and the worklet: 'self' by default
