"""Typed server events and their one serializer: the JSON keeps its keys, order and values."""

from __future__ import annotations

import dataclasses
import json
import pickle

import pytest

from actors.core.errors import ErrorCode, InterruptReason
from actors.core.events import (
    EVENTS,
    ConfiguredEvent,
    ErrorEvent,
    InterruptedEvent,
    PongEvent,
    ReplyDeltaEvent,
    SentenceEvent,
    ServerRestartingEvent,
    SessionEvent,
    SpeechEndedEvent,
    SpeechStartedEvent,
    TranscriptEvent,
    TurnEndEvent,
    TurnStartEvent,
    VoiceInputEvent,
)
from actors.pipeline.conversation import Conversation
from serve_app.protocol import to_wire

pytestmark = pytest.mark.unit

VOICE = {"available": True, "state": "ready", "reason": "", "min_silence_ms": 500}
TIMINGS = {"first_text": 0.01, "first_media": 0.42, "stalled": 0.0, "total": 2.2}
# One event of each type, and the JSON the dict literals that built it before made (same keys
# in the same order): what a client has always received.
SAMPLES = [
    (
        SessionEvent("s1", 1, False, [], {"kind": "sprite"}, VOICE, {"offline": True}),
        '{"type":"session","session_id":"s1","protocol":1,"resumed":false,"history":[],'
        '"avatar":{"kind":"sprite"},"voice_input":{"available":true,"state":"ready",'
        '"reason":"","min_silence_ms":500},"llm":{"offline":true}}',
    ),
    (
        ConfiguredEvent({"language": "zh"}, {"kind": "sprite"}),
        '{"type":"configured","choices":{"language":"zh"},"avatar":{"kind":"sprite"}}',
    ),
    (
        VoiceInputEvent(available=False, reason="no model", state="unavailable", min_silence_ms=9),
        '{"type":"voice_input","available":false,"reason":"no model","state":"unavailable",'
        '"min_silence_ms":9}',
    ),
    (SpeechStartedEvent(1.25), '{"type":"speech_started","at_s":1.25}'),
    (SpeechEndedEvent(1.0, 2.5), '{"type":"speech_ended","start_s":1.0,"end_s":2.5}'),
    (
        TranscriptEvent("hé", None, 0.2, 1.0, 2.5),
        '{"type":"transcript","text":"hé","language":null,"asr_s":0.2,"start_s":1.0,"end_s":2.5}',
    ),
    (TurnStartEvent("t1", "Hello!"), '{"type":"turn_start","turn_id":"t1","text":"Hello!"}'),
    (
        ReplyDeltaEvent("t1", "You said: "),
        '{"type":"reply_delta","turn_id":"t1","text":"You said: "}',
    ),
    (
        SentenceEvent("t1", 0, "Hello!", 0.0, 2.16),
        '{"type":"sentence","turn_id":"t1","seq":0,"text":"Hello!","start_s":0.0,'
        '"duration_s":2.16}',
    ),
    (
        TurnEndEvent("t1", "Hello!", 2.16, TIMINGS),
        '{"type":"turn_end","turn_id":"t1","text":"Hello!","media_s":2.16,"timings":'
        '{"first_text":0.01,"first_media":0.42,"stalled":0.0,"total":2.2}}',
    ),
    (
        InterruptedEvent("t2", InterruptReason.BARGE_IN),
        '{"type":"interrupted","turn_id":"t2","reason":"barge_in"}',
    ),
    (
        ErrorEvent(ErrorCode.BUSY, "queue full"),
        '{"type":"error","code":"busy","message":"queue full"}',
    ),
    (PongEvent(), '{"type":"pong"}'),
    (
        ServerRestartingEvent("reconnect to resume"),
        '{"type":"server_restarting","message":"reconnect to resume"}',
    ),
]


def dumps(obj) -> str:
    # As Starlette's send_json writes a text frame.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("event, wire", SAMPLES, ids=[e.TYPE for e, _ in SAMPLES])
def test_every_event_serialises_to_the_json_it_always_had(event, wire):
    assert dumps(to_wire(event)) == wire
    assert pickle.loads(pickle.dumps(event)) == event  # it crosses Ray as it is


def test_the_samples_cover_every_event_type_once():
    assert [type(e) for e, _ in SAMPLES] == list(EVENTS)
    assert len({e.TYPE for e in EVENTS}) == len(EVENTS)


@pytest.mark.parametrize("event", EVENTS, ids=[e.TYPE for e in EVENTS])
def test_keys_are_type_then_the_documented_fields_in_order(event):
    sample = next(e for e, _ in SAMPLES if type(e) is event)
    keys = [f.metadata["key"] or f.name for f in dataclasses.fields(event)]
    absent = {
        f.metadata["key"] or f.name for f in dataclasses.fields(event) if f.metadata["optional"]
    }
    assert list(to_wire(sample)) == ["type", *[k for k in keys if k not in absent]]
    assert all(isinstance(f.metadata["doc"], str) for f in dataclasses.fields(event))
    assert event.__doc__ and "\n\n" not in event.__doc__  # one 'when' cell in the table


def test_events_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TurnStartEvent("t1", "hi").text = "changed"  # type: ignore[misc]


def test_optional_fields_are_absent_unless_given():
    assert to_wire(TurnStartEvent("t1", "hi", client_id="c7")) == {
        "type": "turn_start",
        "turn_id": "t1",
        "text": "hi",
        "id": "c7",
    }
    full = to_wire(ErrorEvent(ErrorCode.INTERNAL, "failed", turn_id="t3", client_id="c9"))
    assert list(full) == ["type", "code", "message", "turn_id", "id"]
    assert "turn_id" not in to_wire(ErrorEvent(ErrorCode.BUSY, "full", client_id="c9"))
    assert "id" not in to_wire(ErrorEvent(ErrorCode.SESSION_LOST, "lost", turn_id="t3"))


async def test_conversation_errors_leave_empty_ids_out():
    conv = Conversation(session_id="s", llm=None, pipeline=None)
    conv.error(ErrorCode.BUSY, "full", turn_id="", client_id="")
    wire = to_wire(conv.outbox.get_nowait())
    assert wire == {"type": "error", "code": "busy", "message": "full"}


def test_the_outbox_refuses_untyped_items():
    conv = Conversation(session_id="s", llm=None, pipeline=None)
    with pytest.raises(TypeError, match="outbox"):
        conv.put({"type": "pong"})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        conv.put(object())  # type: ignore[arg-type]


def test_enum_values_become_plain_strings():
    wire = to_wire(ErrorEvent(ErrorCode.TTS_ERROR, "skipped"))
    assert type(wire["code"]) is str and wire["code"] == "tts_error"
    assert type(to_wire(InterruptedEvent("t1", InterruptReason.CLIENT))["reason"]) is str


def test_error_codes_are_the_wire_strings():
    assert {c.value for c in ErrorCode} == {
        *("bad_json", "bad_message", "unknown_type", "empty_text", "text_too_long", "bad_text"),
        *("busy", "rate_limited", "bad_audio", "voice_unavailable", "asr_unavailable"),
        *("too_big", "capacity", "session_idle", "session_expired", "session_lost", "replaced"),
        *("too_many_connections", "llm_timeout", "llm_http_error", "llm_connection_error"),
        *("llm_stream_error", "llm_bad_response", "text_error", "tts_error", "avatar_error"),
        *("unknown_language", "unknown_avatar", "unknown_voice", "persona_not_allowed"),
        *("persona_too_long", "internal"),
    }
    for code in ErrorCode:
        assert code == code.value and f"{code}" == code.value and code.name == code.value.upper()
        assert code.doc and "|" not in code.doc  # a cell of the generated table
    assert [r.value for r in InterruptReason] == ["client", "barge_in", "disconnected"]
    assert ErrorCode("busy") is ErrorCode.BUSY
