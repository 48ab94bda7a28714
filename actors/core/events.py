"""Every event the server sends on the socket, one frozen dataclass per ``type``.

Actors build these; only the ingress turns them into JSON (``serve_app.protocol.to_wire``),
so the wire format lives in one place. The contract of each class:

- ``TYPE`` is the event's ``type`` on the wire;
- fields are the JSON keys, in this order (a field's ``key`` metadata renames it);
- an ``optional`` field defaults to None and is then left out of the JSON entirely;
- values are already what the wire carries (rounded times, plain dicts and lists);
- the docstring says when the event is sent, and each field's ``doc`` what it holds:
  ``serve_app.protocol_doc`` renders both into docs/protocol.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from actors.core.errors import ErrorCode, InterruptReason

__all__ = [
    "EVENTS",
    "PROTOCOL_VERSION",
    "ConfiguredEvent",
    "ErrorEvent",
    "InterruptedEvent",
    "PongEvent",
    "ReplyDeltaEvent",
    "SentenceEvent",
    "ServerEvent",
    "ServerRestartingEvent",
    "SessionEvent",
    "SpeechEndedEvent",
    "SpeechStartedEvent",
    "TranscriptEvent",
    "TurnEndEvent",
    "TurnStartEvent",
    "VoiceInputEvent",
    "wire",
]

PROTOCOL_VERSION = 1


def wire(doc: str = "", *, key: str | None = None, optional: bool = False) -> Any:
    """A field with its documentation; ``key``: its JSON name where that differs from the
    attribute's; ``optional``: defaults to None, and None is left out of the JSON."""
    meta = {"doc": doc, "key": key, "optional": optional}
    return field(default=None, metadata=meta) if optional else field(metadata=meta)


_CHOICES_DOC = (
    "the session's choices: `language` (`auto`, `en`, `zh`), `avatar` (a name), `voice` (a "
    "name; null: each language's own), `persona` (null: the server's)"
)


def _choices(enum) -> str:
    return ", ".join(f"`{member}`" for member in enum)


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """first message on every connection"""

    TYPE: ClassVar[str] = "session"
    session_id: str = wire()
    protocol: int = wire(str(PROTOCOL_VERSION))
    resumed: bool = wire("bool")
    history: list[dict[str, str]] = wire("list of `{role, content}` when resumed")
    avatar: dict[str, Any] = wire("`kind`, `width`, `height`, `fps`, `note`")
    voice_input: dict[str, Any] = wire(
        "`available`, `state`: `ready` / `loading` / `unavailable`, `reason`, "
        "`min_silence_ms`: the silence that ends an utterance, so push-to-talk can send that "
        "much on release"
    )
    llm: dict[str, Any] = wire("`offline`, `model`")
    choices: dict[str, Any] | None = wire(_CHOICES_DOC, optional=True)
    avatars: list[dict[str, Any]] | None = wire(
        "the avatars that may be chosen: `name`, `kind`, `width`, `height`, `thumbnail` and "
        "`idle` (URL paths: a still JPEG, the looping clip at rest), `default` (true for the "
        "server's own)",
        optional=True,
    )
    voices: dict[str, list[str]] | None = wire(
        'the voices that may be chosen, by language: `{"en": [...], "zh": [...]}`',
        optional=True,
    )
    languages: list[str] | None = wire("`auto`, `en`, `zh`", optional=True)
    persona: dict[str, Any] | None = wire(
        "`allowed` (may the client set one), `max_chars`", optional=True
    )
    max_input_chars: int | None = wire(
        "the longest `text` the server takes (`text.max_input_chars`); longer gets `text_too_long`",
        optional=True,
    )


@dataclass(frozen=True, slots=True)
class ConfiguredEvent:
    """a `configure` message was taken; its choices apply from the next reply that starts"""

    TYPE: ClassVar[str] = "configured"
    choices: dict[str, Any] = wire(_CHOICES_DOC)
    avatar: dict[str, Any] = wire("the chosen avatar: `kind`, `width`, `height`, `fps`, `note`")
    client_id: str | None = wire("of the configure message", key="id", optional=True)


@dataclass(frozen=True, slots=True)
class VoiceInputEvent:
    """the speech model was still loading when the session began
    (`session.voice_input.state` was `loading`) and now has loaded or failed"""

    TYPE: ClassVar[str] = "voice_input"
    available: bool = wire()
    reason: str = wire()
    state: str = wire("`ready`, `unavailable`")
    min_silence_ms: int = wire()


@dataclass(frozen=True, slots=True)
class SpeechStartedEvent:
    """the VAD heard speech (after `vad.min_speech_ms`)"""

    TYPE: ClassVar[str] = "speech_started"
    at_s: float = wire("seconds into this session's microphone stream")


@dataclass(frozen=True, slots=True)
class SpeechEndedEvent:
    """the VAD heard `vad.min_silence_ms` of silence after speech: the utterance goes to the
    ASR (its `transcript` follows)"""

    TYPE: ClassVar[str] = "speech_ended"
    start_s: float = wire()
    end_s: float = wire("stream times of the utterance")


@dataclass(frozen=True, slots=True)
class TranscriptEvent:
    """an utterance was recognised; a non-empty text then starts a turn like a `text`
    message"""

    TYPE: ClassVar[str] = "transcript"
    text: str = wire()
    language: str | None = wire()  # null when the ASR did not say: sent, not left out
    asr_s: float = wire()
    start_s: float = wire()
    end_s: float = wire("stream times of the utterance")


@dataclass(frozen=True, slots=True)
class TurnStartEvent:
    """a reply begins; a `turn_id` can appear first in `interrupted` when a queued turn is cut
    before it started"""

    TYPE: ClassVar[str] = "turn_start"
    turn_id: str = wire()
    text: str = wire("the user's words")
    client_id: str | None = wire("the text message's `id`, if it had one", key="id", optional=True)


@dataclass(frozen=True, slots=True)
class ReplyDeltaEvent:
    """the next piece of LLM text, as it streams; pieces arriving within
    `server.text_batch_ms` (100 ms) are sent as one — join the `text`s"""

    TYPE: ClassVar[str] = "reply_delta"
    turn_id: str = wire()
    text: str = wire()


@dataclass(frozen=True, slots=True)
class SentenceEvent:
    """just before that sentence's media; `start_s` is its time in the turn's video"""

    TYPE: ClassVar[str] = "sentence"
    turn_id: str = wire()
    seq: int = wire("0, 1, …")
    text: str = wire()
    start_s: float = wire()
    duration_s: float = wire()


@dataclass(frozen=True, slots=True)
class TurnEndEvent:
    """after the last media of a reply"""

    TYPE: ClassVar[str] = "turn_end"
    turn_id: str = wire()
    text: str = wire("the whole reply")
    media_s: float = wire()
    timings: dict[str, float] = wire(
        "seconds: `first_text`, `first_media`, `tts`, `avatar`, `encode`, `total`, and "
        "`stalled`: how long a client playing from the first fragment waited for later media "
        "in all; above 0 the server made media slower than real time"
    )


@dataclass(frozen=True, slots=True)
class InterruptedEvent:
    """the reply was cut; no media of that turn follows; the client drops what it has
    queued"""

    TYPE: ClassVar[str] = "interrupted"
    turn_id: str = wire()
    reason: InterruptReason = wire(_choices(InterruptReason))


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """anything that went wrong; the session stays usable. `internal` and `session_lost` with
    a `turn_id` end that turn (no `turn_end` follows)"""

    TYPE: ClassVar[str] = "error"
    code: ErrorCode = wire()
    message: str = wire()
    turn_id: str | None = wire(optional=True)
    client_id: str | None = wire("of the refused text message", key="id", optional=True)


@dataclass(frozen=True, slots=True)
class PongEvent:
    """answer to `ping`"""

    TYPE: ClassVar[str] = "pong"


@dataclass(frozen=True, slots=True)
class ServerRestartingEvent:
    """the server is stopping this connection's ingress (a redeploy, a scale-down, the app
    being deleted); the socket closes next with code 1012. Reconnect with the session id:
    the session resumes, with its history, on the next ingress that answers"""

    TYPE: ClassVar[str] = "server_restarting"
    message: str = wire()


# In the order docs/protocol.md lists them.
EVENTS = (
    SessionEvent,
    ConfiguredEvent,
    VoiceInputEvent,
    SpeechStartedEvent,
    SpeechEndedEvent,
    TranscriptEvent,
    TurnStartEvent,
    ReplyDeltaEvent,
    SentenceEvent,
    TurnEndEvent,
    InterruptedEvent,
    ErrorEvent,
    PongEvent,
    ServerRestartingEvent,
)
ServerEvent = (
    SessionEvent
    | ConfiguredEvent
    | VoiceInputEvent
    | SpeechStartedEvent
    | SpeechEndedEvent
    | TranscriptEvent
    | TurnStartEvent
    | ReplyDeltaEvent
    | SentenceEvent
    | TurnEndEvent
    | InterruptedEvent
    | ErrorEvent
    | PongEvent
    | ServerRestartingEvent
)
