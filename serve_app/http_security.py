"""Who may open /ws, and the security headers of every HTTP response.

``socket_refusal`` is the pure decision: the WebSocket handshake's Origin and Host headers,
its ``token`` query parameter, the configured allowlist and the optional shared token give
``None`` (let in) or a refusal reason. ``SocketGate`` applies it to a Starlette WebSocket
before it is accepted; ``SecurityHeaders`` is a pure-ASGI middleware (streaming and
WebSockets pass through untouched) that adds the page's headers to ``http`` responses.

The token is read from the environment (``AVATAR_CHAT_TOKEN``) by each Ingress replica and is
never logged, stored in settings or shown in a repr.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("avatar_chat.ingress")

TOKEN_ENV = "AVATAR_CHAT_TOKEN"
CLOSE_POLICY = 1008  # before accept, the server answers the handshake with HTTP 403
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

# The page: its own scripts, styles and worklet; MSE plays blob: URLs in <video>; the
# favicon is a data: URL; the socket goes to the same host ('self' covers ws:/wss: there).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "media-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
)


def read_token(environ: Mapping[str, str] | None = None) -> str | None:
    """The shared token from ``AVATAR_CHAT_TOKEN``; ``None`` when unset or blank."""
    value = (os.environ if environ is None else environ).get(TOKEN_ENV, "").strip()
    return value or None


def _split_origin(origin: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an http(s) origin, lowercased; ValueError if it is not one."""
    parts = urlsplit(origin.strip().lower().rstrip("/"))
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s) origin: {origin!r}")
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"an origin is scheme://host[:port] only: {origin!r}")
    port = parts.port  # ValueError when not a number in range
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def normalise_origin(origin: str) -> str:
    """``scheme://host[:port]`` lowercased, without a trailing slash or a default port.

    Raises ValueError for anything but an http(s) origin (``null`` included).
    """
    scheme, host, port = _split_origin(origin)
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" if port == _DEFAULT_PORTS[scheme] else f"{scheme}://{shown}:{port}"


def _host_port(host_header: str, default_port: int) -> tuple[str, int] | None:
    try:
        parts = urlsplit("//" + host_header.strip().lower())
        return (parts.hostname, parts.port or default_port) if parts.hostname else None
    except ValueError:
        return None


def origin_refusal(origin: str | None, *, host: str | None, allowed: frozenset[str]) -> str | None:
    """None if a page of ``origin`` may open the socket, else the reason it may not.

    Allowed: no Origin (not a browser); the request's own Host under http or https (a
    missing port is the Origin scheme's default); localhost, 127.0.0.1 or [::1] on any
    port; an origin of ``allowed`` (normalised with ``normalise_origin``).
    """
    if origin is None:
        return None
    if origin.strip().lower() == "null":
        return "origin_null"
    try:
        scheme, o_host, o_port = _split_origin(origin)
    except ValueError:
        return "origin_invalid"
    if o_host in LOCAL_HOSTS:
        return None
    if host is not None and _host_port(host, _DEFAULT_PORTS[scheme]) == (o_host, o_port):
        return None
    if normalise_origin(origin) in allowed:
        return None
    return "origin_not_allowed"


def token_refusal(given: str | None, *, token: str | None) -> str | None:
    """None if no token is required or ``given`` equals it (constant time), else the reason."""
    if token is None:
        return None
    if not given:
        return "token_missing"
    if not hmac.compare_digest(given.encode(), token.encode()):
        return "token_wrong"
    return None


def socket_refusal(
    *,
    origin: str | None,
    host: str | None,
    token_given: str | None,
    allowed: frozenset[str],
    token: str | None,
) -> str | None:
    """The origin rule, then the token rule: None (let in) or the first refusal reason."""
    return origin_refusal(origin, host=host, allowed=allowed) or token_refusal(
        token_given, token=token
    )


class SocketGate:
    """Applies ``socket_refusal`` to a WebSocket before it is accepted."""

    def __init__(
        self,
        *,
        allowed_origins: Iterable[str],
        token: str | None,
        record: Callable[[str], None] | None = None,
    ) -> None:
        # An unusable allowlist entry fails the replica's start, not every connection later.
        self.allowed = frozenset(normalise_origin(o) for o in allowed_origins)
        self._token = token
        self._record = record

    @classmethod
    def from_env(
        cls, *, allowed_origins: Iterable[str], environ: Mapping[str, str] | None = None
    ) -> SocketGate:
        """A gate with the token of ``AVATAR_CHAT_TOKEN`` (if set) and Ray's error counter."""
        from actors.session.metrics import record_client_error

        return cls(
            allowed_origins=allowed_origins, token=read_token(environ), record=record_client_error
        )

    @property
    def token_required(self) -> bool:
        return self._token is not None

    def check(self, websocket) -> str | None:
        """The refusal reason for this handshake, or None."""
        return socket_refusal(
            origin=websocket.headers.get("origin"),
            host=websocket.headers.get("host"),
            token_given=websocket.query_params.get("token"),
            allowed=self.allowed,
            token=self._token,
        )

    async def admit(self, websocket) -> bool:
        """True to go on; False after refusing the handshake (close 1008: HTTP 403)."""
        reason = self.check(websocket)
        if reason is None:
            return True
        peer = websocket.client.host if websocket.client else "?"
        origin = (websocket.headers.get("origin") or "-")[:100]
        log.warning("refused /ws from %s: %s (origin %r)", peer, reason, origin)
        if self._record is not None:
            self._record("origin_refused" if reason.startswith("origin") else "token_refused")
        await websocket.close(code=CLOSE_POLICY)
        return False


class SecurityHeaders:
    """Pure-ASGI middleware: adds ``headers`` to every ``http`` response that lacks them.

    Other scopes (websocket, lifespan) and response bodies pass through untouched.
    """

    def __init__(self, app: ASGIApp, *, headers: Iterable[tuple[str, str]] = SECURITY_HEADERS):
        self.app = app
        self.headers = tuple(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])  # optional in ASGI
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
