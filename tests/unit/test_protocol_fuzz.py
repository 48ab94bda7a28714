"""parse_client_text and check_audio: named regressions, then property-based fuzzing.

The contract under test: any string a client can send either parses into a ClientMessage
whose fields encode as strict UTF-8 and respect the limits, or raises ProtocolError with a
known code and a plain, encodable message. Nothing else may escape: any other exception
would kill the socket (close 1006).
"""

from __future__ import annotations

import json
import types

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serve_app import protocol
from serve_app.protocol import (
    AUDIO_ERROR_CODES,
    PARSE_ERROR_CODES,
    RAW_TEXT_FACTOR,
    ClientMessage,
    ProtocolError,
    check_audio,
    parse_client_text,
)

pytestmark = pytest.mark.unit

MAX_CHARS, MAX_BYTES = 2000, 16384  # the defaults of text.max_input_chars, server.max_...
# Reproducible in CI, no wall-clock deadline (machine speed must not matter).
FUZZ = settings(
    max_examples=600,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def parse(raw: str, *, max_chars: int = MAX_CHARS, max_bytes: int = MAX_BYTES) -> ClientMessage:
    return parse_client_text(raw, max_chars=max_chars, max_bytes=max_bytes)


def error_of(raw: str, **limits) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        parse(raw, **limits)
    return caught.value


def check_contract(raw: str, *, max_chars: int = MAX_CHARS, max_bytes: int = MAX_BYTES):
    """Assert the parser's contract for ``raw``; returns the message or the error."""
    try:
        msg = parse(raw, max_chars=max_chars, max_bytes=max_bytes)
    except ProtocolError as exc:
        assert exc.code in PARSE_ERROR_CODES
        message = str(exc)
        assert message and len(message) < 500
        message.encode("utf-8")  # strict: it goes into an error event
        if exc.client_id is not None:
            assert 0 < len(exc.client_id) <= 64
            exc.client_id.encode("utf-8")
        if exc.code == "bad_json":  # never a spurious refusal of valid JSON
            with pytest.raises((ValueError, RecursionError)):
                json.loads(raw)
        return exc
    assert len(raw.encode("utf-8", "surrogatepass")) <= max_bytes
    assert msg.type in {"text", "ping", "interrupt"} and msg.type == json.loads(raw)["type"]
    if msg.type == "text":
        assert 0 < len(msg.text) <= max_chars
    else:
        assert msg.text == "" and msg.client_id is None
    if msg.client_id is not None:
        assert 0 < len(msg.client_id) <= 64
    # What the server echoes (turn_start, errors) must survive Starlette's send_json.
    json.dumps({"text": msg.text, "id": msg.client_id}, ensure_ascii=False).encode("utf-8")
    return msg


# --- regressions: frames that used to kill the socket or stall the event loop


@pytest.mark.parametrize(
    "raw",
    [
        '{"type":"text","text":"hi","id":1' + "1" * 5000 + "}",
        '{"type":"text","text":1' + "1" * 5000 + "}",
        '{"type":1' + "1" * 5000 + "}",
        '{"type":"ping","n":[[1' + "1" * 5000 + "]]}",
        "1" * 5000,
    ],
    ids=["id", "text", "type", "nested", "top-level"],
)
def test_integer_over_the_int_string_limit_is_bad_json(raw):
    error = error_of(raw)
    assert (error.code, str(error)) == ("bad_json", "message is not valid JSON")


@pytest.mark.parametrize("text", ["\\ud800", "a\\udfffb", "\\ude00 hi"])
def test_lone_surrogate_escape_in_text_is_bad_text(text):
    error = error_of('{"type":"text","text":"' + text + '","id":"m1"}')
    assert error.code == "bad_text" and error.client_id == "m1"


def test_literal_lone_surrogate_in_text_is_bad_text():
    assert error_of(json.dumps({"type": "text", "text": "hi \ud800"}, ensure_ascii=False)).code == (
        "bad_text"
    )


def test_a_surrogate_pair_escape_is_a_valid_character():
    msg = parse('{"type":"text","text":"hi \\ud83d\\ude00","id":"\\ud83d\\ude00"}')
    assert (msg.text, msg.client_id) == ("hi \U0001f600", "\U0001f600")


@pytest.mark.parametrize("client_id", ["\\ud800", "ok\\udc00"])
def test_lone_surrogate_in_id_is_bad_message_and_not_echoed(client_id):
    error = error_of('{"type":"text","text":"hi","id":"' + client_id + '"}')
    assert error.code == "bad_message" and error.client_id is None


def test_unknown_type_is_shown_short_and_escaped():
    error = error_of(json.dumps({"type": "\ud800\u0007" + "x" * 5000}))
    assert error.code == "unknown_type"
    message = str(error)
    message.encode("ascii")
    assert "\\ud800" in message and "x" * 41 not in message


@pytest.mark.parametrize("depth", [5000, 16000])
def test_deep_nesting_is_bad_json(depth):
    assert error_of("[" * depth + "]" * depth, max_bytes=1 << 20).code == "bad_json"


def test_megabyte_frame_is_too_big_before_any_parsing(monkeypatch):
    def boom(*_a, **_k):
        raise AssertionError("an oversized frame must not be parsed or cleaned")

    monkeypatch.setattr(protocol, "json", types.SimpleNamespace(loads=boom))
    monkeypatch.setattr(protocol, "clean_text", boom)
    raw = json.dumps({"type": "text", "text": "word " * 200_000})
    error = error_of(raw)
    assert error.code == "too_big" and str(error).endswith("this one was dropped")


@pytest.mark.parametrize(
    ("pad", "chars", "accepted"),
    [("a", 1, True), ("é", 2, True), ("中", 3, True), ("中", 3, False), ("\ud800", 3, False)],
)
def test_size_is_counted_in_utf8_bytes(pad, chars, accepted):
    head = '{"type":"ping","p":"'
    budget = 1024 - len(head) - 2  # bytes left for the padding and the closing '"}'
    n = budget // chars if accepted else budget // chars + 1
    raw = head + pad * n + '"}'
    assert len(raw) <= 1024  # too big only when measured in bytes
    if accepted:
        assert parse(raw, max_bytes=1024) == ClientMessage("ping")
    else:
        assert error_of(raw, max_bytes=1024).code == "too_big"


def test_raw_text_length_is_checked_before_cleaning(monkeypatch):
    def boom(*_a, **_k):
        raise AssertionError("clean_text must not see text far over the limit")

    monkeypatch.setattr(protocol, "clean_text", boom)
    text = " " * (RAW_TEXT_FACTOR * 100 + 1)
    error = error_of(json.dumps({"type": "text", "text": text, "id": "m9"}), max_chars=100)
    assert (error.code, error.client_id) == ("text_too_long", "m9")


@pytest.mark.parametrize("delta", [-1, 0, 1])
def test_raw_text_limit_is_inclusive(delta):
    text = "a" + " " * (RAW_TEXT_FACTOR * 10 - 1 + delta)  # cleans to "a"
    raw = json.dumps({"type": "text", "text": text})
    if delta <= 0:
        assert parse(raw, max_chars=10) == ClientMessage("text", "a")
    else:
        assert error_of(raw, max_chars=10).code == "text_too_long"


def test_cleaning_can_bring_text_under_the_limit_and_its_own_check_stays():
    assert parse(json.dumps({"type": "text", "text": "a" + " " * 30 + "b"}), max_chars=10).text == (
        "a b"
    )
    assert error_of(json.dumps({"type": "text", "text": "a" * 11}), max_chars=10).code == (
        "text_too_long"
    )


@pytest.mark.parametrize("raw", ["", "{", '{"type":"text","text":"hi"', "\ufeff{}", "NaN]"])
def test_bad_json_message_is_a_plain_sentence(raw):
    error = error_of(raw)
    assert (error.code, str(error)) == ("bad_json", "message is not valid JSON")


def test_empty_audio_is_bad_audio():
    with pytest.raises(ProtocolError) as caught:
        check_audio(b"")
    assert caught.value.code == "bad_audio" and str(caught.value) == "audio message is empty"


def test_audio_must_be_whole_samples():
    check_audio(b"\x00\x01")
    with pytest.raises(ProtocolError) as caught:
        check_audio(b"\x00\x01\x02")
    assert caught.value.code in AUDIO_ERROR_CODES


# --- property-based fuzzing

ANY_CHAR = st.characters(exclude_categories=())  # Cs included, but rarely drawn
LONE_SURROGATE = st.characters(categories=["Cs"])


def texts(**size) -> st.SearchStrategy[str]:
    """Any Unicode text; half of the time about every other character a lone surrogate."""
    return st.text(ANY_CHAR, **size) | st.text(ANY_CHAR | LONE_SURROGATE, **size)


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts(max_size=20)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(texts(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


def huge_int(digits: int) -> str:
    return "9" * digits  # json.dumps itself refuses such ints, so they are spliced in as text


@st.composite
def json_texts(draw) -> str:
    """JSON text of random values, message-shaped objects, huge ints spliced anywhere."""
    branch = draw(st.sampled_from(["value", "text", "text", "other"]))
    if branch == "value":
        value = draw(JSON_VALUES)
    else:
        others = st.sampled_from(["ping", "interrupt"]) | texts(max_size=50)
        value = {"type": "text" if branch == "text" else draw(others)}
        for key, values in [("text", texts(max_size=60)), ("id", texts(max_size=70))]:
            if draw(st.booleans()):
                value[key] = draw(values | JSON_VALUES)
        if draw(st.booleans()):
            value["extra"] = draw(JSON_VALUES)
    raw = json.dumps(value, ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 4)) == 0:  # replace one number or literal by a huge integer
        for token in ("null", "true", "false", "0", "1"):
            if token in raw:
                return raw.replace(token, huge_int(draw(st.integers(4290, 4400))), 1)
    return raw


@settings(FUZZ, max_examples=500)
@given(raw=json_texts())
def test_any_json_value_parses_or_is_refused_cleanly(raw):
    check_contract(raw)


# Pieces of JSON, so that random joins often make nearly-valid messages.
TOKENS = st.sampled_from(
    ['{"type":"text",', '{"type":"ping",', '"text":', '"id":', '"type":', "{", "}", "[", "]"]
    + [",", ":", '"', '"hi"', "\\ud800", "\\udfff", "\\ud83d\\ude00", "\\u0000", "\\", "\ud800"]
    + ["1" * 4301, "1e999", "-0", "NaN", "null", "true", " ", "\n", "\x00", "\u2028"]
)
RAW_STRINGS = (
    texts(max_size=200)
    | st.lists(TOKENS, max_size=12).map("".join)
    | texts(max_size=40).map(lambda t: '{"type":"text","text":"' + t + '"}')
    | texts(max_size=70).map(lambda t: '{"type":"text","text":"a","id":"' + t + '"}')
)


@FUZZ
@given(raw=RAW_STRINGS)
def test_any_raw_string_parses_or_is_refused_cleanly(raw):
    check_contract(raw)


@FUZZ
@given(
    data=st.binary(max_size=300),
    codec=st.sampled_from(["surrogateescape", "replace", "l1"]),
    as_text=st.booleans(),
)
def test_any_decoded_bytes_parse_or_are_refused_cleanly(data, codec, as_text):
    raw = data.decode("latin-1") if codec == "l1" else data.decode("utf-8", codec)
    if as_text:  # the decoded bytes as a message's text (surrogateescape: lone surrogates)
        raw = '{"type":"text","text":"' + raw.replace("\\", "").replace('"', "") + '"}'
    check_contract(raw)


SIZE_CHARS = st.sampled_from(["a", "é", "中", "\U0001f600", " ", "\u200b", "\x07", "\ud800"])


@settings(FUZZ, max_examples=300)  # few distinct cases: sizes times characters
@given(
    max_chars=st.sampled_from([8, 50, MAX_CHARS]),
    delta=st.integers(-1, 1),
    char=SIZE_CHARS,
    client_id=st.none() | texts(min_size=63, max_size=65),
)
def test_text_around_max_chars(max_chars, delta, char, client_id):
    text = "x" + char * (max_chars + delta - 1)
    # Unescaped, as browsers send it: escaped, 2000 emoji alone would pass 16 KiB (too_big).
    raw = json.dumps({"type": "text", "text": text, "id": client_id}, ensure_ascii=False)
    msg = check_contract(raw, max_chars=max_chars)
    if char in "aé中\U0001f600" and client_id is None:  # nothing for cleaning to drop
        assert isinstance(msg, ClientMessage) == (delta <= 0)
        assert isinstance(msg, ClientMessage) or msg.code == "text_too_long"


@FUZZ
@given(
    max_bytes=st.sampled_from([64, 1024, MAX_BYTES]),
    delta=st.integers(-1, 1),
    char=SIZE_CHARS,
    kind=st.sampled_from(["ping", "text", "nope"]),
)
def test_frames_around_max_bytes(max_bytes, delta, char, kind):
    head = '{"type":"' + kind + '","text":"'
    target = max_bytes + delta  # UTF-8 bytes wanted; padded with ASCII after the chars
    raw = head + char * max(0, (target - len(head) - 2) // 4) + '"}'
    raw = raw[:-2] + "a" * (target - len(raw.encode("utf-8", "surrogatepass"))) + '"}'
    assert len(raw.encode("utf-8", "surrogatepass")) == target
    result = check_contract(raw, max_chars=max_bytes, max_bytes=max_bytes)
    assert (isinstance(result, ProtocolError) and result.code == "too_big") == (delta > 0)
