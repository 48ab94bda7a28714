"""Wire format of the WebSocket (see docs/protocol.md): parsing, validation, framing."""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass

from actors.media import codecs_of
from actors.messages import MediaChunk
from actors.textclean import InputTextError, clean_text

PROTOCOL_VERSION = 1
CLOSE_CAPACITY = 1013  # "try again later"
CLOSE_TOO_BIG = 1009


class ProtocolError(ValueError):
    """A client message that breaks the protocol; ``code`` goes into the error event."""

    def __init__(self, code: str, message: str, client_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.client_id = client_id


@dataclass(frozen=True, slots=True)
class ClientMessage:
    type: str
    text: str = ""
    client_id: str | None = None  # the client's optional "id", echoed in replies to it


_TYPES = {"text", "interrupt", "ping"}


def parse_client_text(raw: str, *, max_chars: int) -> ClientMessage:
    """Validate one JSON text message from a client."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise ProtocolError("bad_json", "message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_message", "message must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_message", "message has no string 'type'")
    if kind not in _TYPES:
        shown = kind[:40]
        raise ProtocolError("unknown_type", f"unknown message type {shown!r}")
    if kind != "text":
        return ClientMessage(kind)
    client_id = data.get("id")
    if client_id is not None and not (isinstance(client_id, str) and 0 < len(client_id) <= 64):
        raise ProtocolError("bad_message", "'id' must be a string of 1 to 64 characters")
    try:
        text = clean_text(data.get("text"), max_chars=max_chars)
    except InputTextError as exc:
        raise ProtocolError(exc.code, str(exc), client_id) from None
    return ClientMessage("text", text, client_id)


def check_audio(data: bytes) -> None:
    """Microphone audio must be whole PCM16 samples."""
    if len(data) % 2:
        raise ProtocolError("bad_audio", f"audio has an odd number of bytes ({len(data)})")


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
    """Inverse of :func:`frame_media` (clients, tests and benchmarks)."""
    if len(message) < 4:
        raise ProtocolError("bad_media", "media message shorter than its length prefix")
    (n,) = struct.unpack(">I", message[:4])
    return json.loads(message[4 : 4 + n]), message[4 + n :]


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
