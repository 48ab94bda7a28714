"""Wire format of the WebSocket (see docs/protocol.md): parsing, validation, framing, and
the JSON of server events (``to_wire``)."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import Enum
from functools import cache
from typing import Any

from actors.core.errors import ErrorCode
from actors.core.events import ServerEvent
from actors.core.messages import MediaChunk
from actors.core.textclean import InputTextError, clean_text
from actors.media.encoder import codecs_of
from actors.pipeline.choices import CHOICE_KEYS

CLOSE_CAPACITY = 1013  # "try again later"
CLOSE_TOO_BIG = 1009
CLOSE_REPLACED = 4001  # another connection resumed the session
CLOSE_RESTARTING = 1012  # "service restart": this ingress is stopping; reconnect and resume


class ProtocolError(ValueError):
    """A client message that breaks the protocol; ``code`` goes into the error event."""

    def __init__(self, code: ErrorCode, message: str, client_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.client_id = client_id


@dataclass(frozen=True, slots=True)
class ClientMessage:
    type: str
    text: str = ""
    client_id: str | None = None  # the client's optional "id", echoed in replies to it
    # configure: the choices it names (keys of CHOICE_KEYS), each a string or None
    choices: dict[str, str | None] | None = None


_TYPES = {"text", "interrupt", "ping", "configure"}
MAX_ID_CHARS = 64
# The /ws query parameters that name session choices at connect time (docs/protocol.md,
# Session choices); a configure message names any of CHOICE_KEYS.
QUERY_CHOICES = {"lang": "language", "avatar": "avatar", "voice": "voice"}
MAX_QUERY_CHOICE_CHARS = 200
RAW_TEXT_FACTOR = 4  # raw text may be this many times max_chars: cleaning drops whitespace
# Every code parse_client_text and check_audio can raise (docs/protocol.md, Error codes).
PARSE_ERROR_CODES = frozenset(
    {
        ErrorCode.TOO_BIG,
        ErrorCode.BAD_JSON,
        ErrorCode.BAD_MESSAGE,
        ErrorCode.UNKNOWN_TYPE,
        ErrorCode.BAD_TEXT,
        ErrorCode.EMPTY_TEXT,
        ErrorCode.TEXT_TOO_LONG,
    }
)
AUDIO_ERROR_CODES = frozenset({ErrorCode.BAD_AUDIO})


def parse_client_text(raw: str, *, max_chars: int, max_bytes: int) -> ClientMessage:
    """Validate one JSON text message from a client; never raises anything but ProtocolError.

    Checks run cheapest first, so an oversized or hostile frame costs little on the event
    loop: size (``max_bytes`` of UTF-8; lone surrogates count 3), then JSON, then structure,
    then the text's raw length (``RAW_TEXT_FACTOR * max_chars``) before it is cleaned.
    The returned fields always encode as strict UTF-8 (the server echoes them back), and
    error messages never quote client content except a short ASCII-escaped type name.
    """
    if not isinstance(raw, str):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "a text message must be a string")
    # Each character is at least one UTF-8 byte, so a long string is too big unencoded.
    size = len(raw) if len(raw) > max_bytes else len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise ProtocolError(
            ErrorCode.TOO_BIG,
            f"text messages are limited to {max_bytes} bytes; this one was dropped",
        )
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError, UnicodeError and the int-string digit limit.
        raise ProtocolError(ErrorCode.BAD_JSON, "message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "message must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "message has no string 'type'")
    if kind not in _TYPES:
        # ascii() escapes surrogates, controls and quotes: always safe to send back.
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {ascii(kind[:40])}")
    if kind == "configure":
        return _configure(data)
    if kind != "text":
        return ClientMessage(kind)
    client_id = _client_id(data.get("id"))
    text = data.get("text")
    if isinstance(text, str) and len(text) > RAW_TEXT_FACTOR * max_chars:
        raise ProtocolError(
            ErrorCode.TEXT_TOO_LONG,
            f"text is {len(text)} characters; the limit is {max_chars}",
            client_id,
        )
    try:
        text = clean_text(text, max_chars=max_chars)
    except InputTextError as exc:
        raise ProtocolError(exc.code, str(exc), client_id) from None
    return ClientMessage("text", text, client_id)


def _configure(data: dict) -> ClientMessage:
    """A configure message: each of ``CHOICE_KEYS`` it holds must be a string or null (the
    session checks what is chosen); other keys are ignored."""
    client_id = _client_id(data.get("id"))
    choices: dict[str, str | None] = {}
    for key in CHOICE_KEYS:
        if key not in data:
            continue
        value = data[key]
        if value is not None and not (isinstance(value, str) and _encodable(value)):
            message = f"'{key}' must be a string of valid characters, or null"
            raise ProtocolError(ErrorCode.BAD_MESSAGE, message, client_id)
        choices[key] = value
    return ClientMessage("configure", client_id=client_id, choices=choices)


def choices_from_query(params: Mapping[str, str]) -> dict[str, str | None]:
    """The session choices of a ``/ws`` query (``lang``, ``avatar``, ``voice``), named as in
    a configure message, for the session to check. Values are cut to
    ``MAX_QUERY_CHOICE_CHARS``, far beyond any name: what travels on stays small."""
    return {
        key: params[param][:MAX_QUERY_CHOICE_CHARS]
        for param, key in QUERY_CHOICES.items()
        if param in params
    }


def _client_id(value: object) -> str | None:
    """The optional ``id``: 1 to 64 characters that encode as UTF-8 (it is echoed back)."""
    if value is None:
        return None
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS and _encodable(value):
        return value
    raise ProtocolError(
        ErrorCode.BAD_MESSAGE, f"'id' must be a string of 1 to {MAX_ID_CHARS} valid characters"
    )


def _encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a JSON escape such as \ud800
        return False
    return True


def check_audio(data: bytes) -> None:
    """Microphone audio must be one or more whole PCM16 samples."""
    if not data:
        raise ProtocolError(ErrorCode.BAD_AUDIO, "audio message is empty")
    if len(data) % 2:
        raise ProtocolError(ErrorCode.BAD_AUDIO, f"audio has an odd number of bytes ({len(data)})")


def media_header(chunk: MediaChunk) -> dict:
    header = {
        "turn_id": chunk.turn_id,
        "seq": chunk.seq,
        "kind": chunk.kind,
        "start_s": round(chunk.start_s, 4),
        "duration_s": round(chunk.duration_s, 4),
    }
    if chunk.kind == "init":
        header["codecs"] = codecs_of(chunk.data)
    return header


def frame_media(chunk: MediaChunk) -> bytes:
    """``[u32 BE header length][JSON header][payload]``: one binary WebSocket message."""
    header = json.dumps(media_header(chunk), separators=(",", ":")).encode()
    return struct.pack(">I", len(header)) + header + chunk.data


def unframe_media(message: bytes) -> tuple[dict, bytes]:
    """Inverse of :func:`frame_media` (clients, tests and benchmarks); a message too short
    to hold its length prefix is a ValueError (the server's fault, so no client error code)."""
    if len(message) < 4:
        raise ValueError("media message shorter than its length prefix")
    (n,) = struct.unpack(">I", message[:4])
    return json.loads(message[4 : 4 + n]), message[4 + n :]


@cache
def _wire_plan(cls: type) -> tuple[tuple[str, str, bool], ...]:
    """(attribute, JSON key, optional) per field of an event class, worked out once."""
    return tuple(
        (f.name, f.metadata.get("key") or f.name, f.metadata["optional"]) for f in fields(cls)
    )


def to_wire(event: ServerEvent) -> dict[str, Any]:
    """The JSON object of a server event (actors/core/events.py): the only place events become
    JSON. ``type`` comes first, then the fields in declaration order under their wire keys;
    an optional field that is None is left out; enum members become their plain strings."""
    out: dict[str, Any] = {"type": event.TYPE}
    for attr, key, optional in _wire_plan(type(event)):
        value = getattr(event, attr)
        if value is None and optional:
            continue
        out[key] = value.value if isinstance(value, Enum) else value
    return out


class RateLimiter:
    """Token bucket: ``rate`` messages per second on average, bursts up to one second's worth."""

    def __init__(self, *, rate: float, clock=time.monotonic) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self._rate = rate
        self._tokens = rate
        self._clock = clock
        self._last = clock()

    def allow(self) -> bool:
        now = self._clock()
        self._tokens = min(self._rate, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class ByteBudget:
    """Token bucket of bytes: ``rate`` bytes per second, bursts up to one second's worth.

    ``allow(n)`` takes ``n`` bytes from the bucket if they are there; a refused message
    takes nothing, and one bigger than ``rate`` is never allowed.
    """

    def __init__(self, *, rate: int, clock=time.monotonic) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self._rate = rate
        self._tokens = float(rate)
        self._clock = clock
        self._last = clock()

    def allow(self, n: int) -> bool:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        now = self._clock()
        self._tokens = min(self._rate, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if n <= self._tokens:
            self._tokens -= n
            return True
        return False
