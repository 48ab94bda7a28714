"""The wire's closed vocabularies: error codes and interrupt reasons (docs/protocol.md).

Each member's value is the exact string a client sees; each carries ``doc``, one sentence
(or clause) that the generated protocol reference prints next to it. Being ``StrEnum``s,
members compare equal to their strings and encode as them in JSON, so code that still
holds a plain string (a test, a client) keeps working.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ErrorCode", "InterruptReason"]


class _Documented(StrEnum):
    """A ``StrEnum`` whose members are written ``NAME = "value", "doc"``."""

    doc: str

    def __new__(cls, value: str, doc: str = ""):
        member = str.__new__(cls, value)
        member._value_ = value
        member.doc = doc
        return member


class ErrorCode(_Documented):
    """``code`` of an ``error`` event."""

    BAD_JSON = "bad_json", "a text message is not valid JSON"
    BAD_MESSAGE = "bad_message", "valid JSON but not a message (no object, no `type`, a bad `id`)"
    UNKNOWN_TYPE = "unknown_type", "a message `type` the server does not know"
    EMPTY_TEXT = "empty_text", "the text is empty once control characters and spaces are removed"
    TEXT_TOO_LONG = "text_too_long", "the text is longer than `text.max_input_chars`"
    BAD_TEXT = "bad_text", "`text` is not a string, or holds invalid Unicode"
    BUSY = "busy", "a reply is running and a text already waits for its turn"
    RATE_LIMITED = "rate_limited", "over the message or byte rate; the message was dropped"
    BAD_AUDIO = "bad_audio", "an audio message is empty or has an odd number of bytes"
    VOICE_UNAVAILABLE = "voice_unavailable", "voice input disabled"
    ASR_UNAVAILABLE = "asr_unavailable", "speech was heard but the ASR model is not loaded"
    TOO_BIG = (
        "too_big",
        "a text message over `server.max_text_message_bytes` (dropped), or any message over "
        "`server.max_message_bytes` (before close 1009)",
    )
    CAPACITY = (
        "capacity",
        "sent before close 1013: `server.max_sessions` (or this client's "
        "`server.max_sessions_per_client`) reached, or no room in the cluster to start the "
        "session within `server.session_start_timeout_s`",
    )
    SESSION_IDLE = (
        "session_idle",
        "the session ended after `server.idle_timeout_s` without messages",
    )
    SESSION_EXPIRED = (
        "session_expired",
        "a resume id that is unknown or past its grace period; a new session follows",
    )
    SESSION_LOST = (
        "session_lost",
        "the process hosting the session died: the running turn, named by `turn_id`, is lost; "
        "when Ray restarts the host, `server.session_max_restarts` times at most, a new "
        "`session` event with `resumed` true and the history follows on the same socket",
    )
    REPLACED = "replaced", "before close 4001: the session was resumed on another socket"
    TOO_MANY_CONNECTIONS = "too_many_connections", "before close 1013"
    LLM_TIMEOUT = "llm_timeout", "no reply text in time, or the whole reply took too long"
    LLM_HTTP_ERROR = "llm_http_error", "the LLM endpoint answered with an HTTP error"
    LLM_CONNECTION_ERROR = "llm_connection_error", "the LLM endpoint could not be reached"
    LLM_STREAM_ERROR = "llm_stream_error", "the LLM stream broke before the reply was complete"
    LLM_BAD_RESPONSE = "llm_bad_response", "the LLM endpoint sent a malformed chunk"
    TEXT_ERROR = "text_error", "the reply's text source failed in an unforeseen way"
    TTS_ERROR = "tts_error", "a sentence could not be spoken and was skipped"
    AVATAR_ERROR = (
        "avatar_error",
        "a sentence could not be animated; or the avatar stopped mid-reply, which cuts the "
        "reply: its `turn_end` follows",
    )
    UNKNOWN_LANGUAGE = (
        "unknown_language",
        "a `language` choice that is not `auto` or one of `session.languages`; nothing changed",
    )
    UNKNOWN_AVATAR = (
        "unknown_avatar",
        "an `avatar` choice not among `session.avatars`; nothing changed",
    )
    UNKNOWN_VOICE = (
        "unknown_voice",
        "a `voice` choice not among `session.voices` for the session's language (any "
        "language's on `auto`); nothing changed",
    )
    PERSONA_NOT_ALLOWED = (
        "persona_not_allowed",
        "a `persona` choice on a server that does not offer one (`session.persona.allowed` "
        "false); nothing changed",
    )
    PERSONA_TOO_LONG = (
        "persona_too_long",
        "a `persona` longer than `session.persona.max_chars`; nothing changed",
    )
    INTERNAL = "internal", "a fault in the server; with a `turn_id`, that turn failed"


class InterruptReason(_Documented):
    """``reason`` of an ``interrupted`` event."""

    CLIENT = "client", "the client sent `interrupt`"
    BARGE_IN = "barge_in", "the user spoke over the reply (`vad.barge_in_ms`)"
    DISCONNECTED = "disconnected", "the socket went away"
