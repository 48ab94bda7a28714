"""ChatLLM against a real local HTTP server speaking OpenAI's streaming protocol; its
replies recorded in the history by ``record_reply``, as the conversation does it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing

import pytest

from actors.core.messages import TextDelta, Transcript
from actors.engines.llm import ChatLLM, LLMError
from actors.pipeline.history import ChatHistory, record_reply
from tests.fakes import openai_server
from tests.fakes.openai_server import FakeOpenAIServer, split_tokens

pytestmark = pytest.mark.integration

PERSONA = "You are a test avatar."
SCRIPT = "Hello there. I am the fake model, and this reply streams word by word."


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    # A sync fixture: starting and stopping the server never blocks the test's loop.
    with FakeOpenAIServer(script=SCRIPT) as srv:
        yield srv


@pytest.fixture
async def llm(server: FakeOpenAIServer) -> AsyncIterator[ChatLLM]:
    model = ChatLLM(
        base_url=server.base_url,
        api_key=None,
        model="fake-model",
        persona=PERSONA,
        temperature=0.3,
        max_tokens=50,
        first_token_timeout_s=1.0,
        total_timeout_s=10.0,
    )
    yield model
    await model.aclose()


class StreamHold:
    """The server's streams pause after their first ``after`` content chunks until
    ``release()``: a test sees a stream that is certainly still open, however slow the
    machine, instead of racing the server's pace."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.released = threading.Event()

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def hold(server, monkeypatch) -> Iterator[Callable[[int], StreamHold]]:
    """``hold(after=n)`` holds the fake server's streams (released at teardown, before the
    server stops). It wraps the fake's chunk writer, which has no pause knob of its own."""
    holds: list[StreamHold] = []
    handler = openai_server._Handler
    write_event, stream = handler._event, handler._stream

    def counting_stream(self, reply, failure):
        self.content_chunks = 0  # a keep-alive connection streams several replies
        stream(self, reply, failure)

    def held_event(self, delta, finish_reason=None):
        write_event(self, delta, finish_reason)
        if delta.get("content") and holds:
            self.content_chunks += 1
            if self.content_chunks == holds[-1].after:
                holds[-1].released.wait(timeout=120)

    monkeypatch.setattr(handler, "_stream", counting_stream)
    monkeypatch.setattr(handler, "_event", held_event)

    def make(after: int) -> StreamHold:
        holds.append(StreamHold(after))
        return holds[-1]

    yield make
    for h in holds:
        h.release()


def reply(llm: ChatLLM, text: str, history: ChatHistory) -> AsyncIterator[TextDelta]:
    """The reply to ``text``, recorded in ``history`` as it streams (as a conversation does)."""
    return record_reply(text, history, llm.stream(history, Transcript(text)))


async def collect(llm: ChatLLM, text: str, history: ChatHistory) -> list[str]:
    async with aclosing(reply(llm, text, history)) as deltas:
        return [d.text async for d in deltas]


def assert_alternating(history: ChatHistory) -> None:
    roles = [m["role"] for m in history.messages]
    assert roles == ["user", "assistant"] * (len(roles) // 2)
    assert all(isinstance(m["content"], str) for m in history.messages)


async def test_stream_is_incremental_and_records_history(server, llm, hold) -> None:
    held = hold(after=1)
    script = " ".join(f"word{i}" for i in range(20)) + "."
    server.script = script
    history = ChatHistory()
    deltas = []
    async with aclosing(reply(llm, "Hi!", history)) as stream:
        async for delta in stream:
            if not deltas:
                # The first delta is here while the server holds back the rest (a client
                # that waited for the whole body would never see it: llm_timeout).
                assert server.completed_streams == 0
                held.release()
            deltas.append(delta.text)
    assert deltas == split_tokens(script)
    assert "".join(deltas) == script
    assert server.completed_streams == 1
    assert history.messages == [
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": script},
    ]
    request = server.requests[0]
    assert request["stream"] is True
    assert request["model"] == "fake-model"
    assert request["temperature"] == 0.3
    assert request["max_tokens"] == 50
    assert request["messages"] == [
        {"role": "system", "content": PERSONA},
        {"role": "user", "content": "Hi!"},
    ]


async def test_request_carries_persona_and_history(server, llm) -> None:
    server.script = lambda messages: f"Reply to: {messages[-1]['content']}"
    history = ChatHistory()
    assert "".join(await collect(llm, "first", history)) == "Reply to: first"
    assert "".join(await collect(llm, "second", history)) == "Reply to: second"
    assert server.received_messages[1] == [
        {"role": "system", "content": PERSONA},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "Reply to: first"},
        {"role": "user", "content": "second"},
    ]
    assert len(history) == 4
    assert_alternating(history)


async def test_the_engine_reads_the_history_and_never_writes_it(server, llm) -> None:
    past = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    history = ChatHistory(past)
    async with aclosing(llm.stream(history, Transcript("next"))) as deltas:
        got = [d async for d in deltas]
    assert all(isinstance(d, TextDelta) for d in got)
    assert "".join(d.text for d in got) == SCRIPT
    assert history.messages == past
    assert [m["content"] for m in server.received_messages[-1]] == [PERSONA, "q", "a", "next"]


async def test_history_sent_is_bounded(server) -> None:
    llm = ChatLLM(base_url=server.base_url, model="m", persona=PERSONA, max_history_messages=2)
    try:
        history = ChatHistory(max_messages=10)
        for text in ("one", "two", "three"):
            await collect(llm, text, history)
        sent = server.received_messages[-1]
        assert [m["content"] for m in sent] == [PERSONA, "two", SCRIPT, "three"]
        assert len(history) == 6
    finally:
        await llm.aclose()


@pytest.mark.parametrize("mode", ["slow", "stall"])
async def test_no_first_token_times_out(server, llm, mode) -> None:
    if mode == "slow":
        server.first_token_delay_s = 600.0  # far beyond the timeout (a stop ends the wait)
    else:
        server.failure, server.fail_times = "stall", 1
    history = ChatHistory()
    started = time.monotonic()
    with pytest.raises(LLMError) as info:
        await collect(llm, "Are you there?", history)
    assert info.value.code == "llm_timeout"
    # The first-token deadline (1 s) fired, not the total one (10 s): the message says which.
    assert str(info.value) == "no reply text within 1 s"
    assert time.monotonic() - started >= 0.9  # a lower bound set by the client's own timer
    assert len(history) == 0  # nothing was said, so nothing is recorded

    server.first_token_delay_s = 0.0
    assert "".join(await collect(llm, "Hello?", history)) == SCRIPT
    assert [m["content"] for m in history.messages] == ["Hello?", SCRIPT]


async def test_total_timeout_keeps_partial_reply(server, hold) -> None:
    hold(after=1)  # one token, then the stream stays open with nothing more
    # The total deadline must outlast the first token's arrival on any machine; it then fires
    # with exactly that token received.
    llm = ChatLLM(base_url=server.base_url, model="m", total_timeout_s=3.0)
    try:
        history = ChatHistory()
        with pytest.raises(LLMError) as info:
            await collect(llm, "Talk slowly.", history)
        assert info.value.code == "llm_timeout"
        assert str(info.value) == "reply took over 3 s"
        assert_alternating(history)
        assert history.messages[1]["content"] == split_tokens(SCRIPT)[0] + " …"
    finally:
        await llm.aclose()


@pytest.mark.parametrize(
    ("failure", "code", "partial"),
    [
        ("http_500", "llm_http_error", False),
        ("drop_mid_stream", "llm_stream_error", True),
        ("malformed_chunk", "llm_bad_response", True),
        ("end_early", "llm_stream_error", True),
    ],
)
async def test_failure_maps_to_code_and_history_stays_consistent(
    server, llm, failure, code, partial
) -> None:
    server.failure, server.fail_times, server.fail_after_chunks = failure, 1, 3
    history = ChatHistory()
    with pytest.raises(LLMError) as info:
        await collect(llm, "Tell me something.", history)
    assert info.value.code == code
    assert str(info.value)
    assert_alternating(history)
    cut_reply = "".join(split_tokens(SCRIPT)[:3]) + " …"
    if partial:
        assert history.messages == [
            {"role": "user", "content": "Tell me something."},
            {"role": "assistant", "content": cut_reply},
        ]
    else:
        assert "HTTP 500" in str(info.value) and "fake server error" in str(info.value)
        assert len(history) == 0

    # The next turn against the now healthy server works and sees the cut-off reply.
    assert "".join(await collect(llm, "Go on.", history)) == SCRIPT
    assert_alternating(history)
    assert history.messages[-2:] == [
        {"role": "user", "content": "Go on."},
        {"role": "assistant", "content": SCRIPT},
    ]
    sent = [m["content"] for m in server.received_messages[-1]]
    expected_before = ["Tell me something.", cut_reply] if partial else []
    assert sent == [PERSONA, *expected_before, "Go on."]


async def test_unreachable_endpoint_is_a_connection_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    llm = ChatLLM(base_url=f"http://127.0.0.1:{port}/v1", model="m")
    try:
        history = ChatHistory()
        with pytest.raises(LLMError) as info:
            await collect(llm, "Anyone?", history)
        assert info.value.code == "llm_connection_error"
        assert len(history) == 0
    finally:
        await llm.aclose()


async def test_cancel_mid_stream_keeps_history_consistent(server, llm, hold) -> None:
    held = hold(after=2)  # the stream is certainly still open when the consumer is cancelled
    history = ChatHistory()
    received: list[str] = []
    two_deltas = asyncio.Event()

    async def consume() -> None:
        async with aclosing(reply(llm, "Barge in on me.", history)) as deltas:
            async for delta in deltas:
                received.append(delta.text)
                if len(received) == 2:
                    two_deltas.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(two_deltas.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert received == split_tokens(SCRIPT)[:2]
    assert_alternating(history)
    cut = history.messages[1]["content"]
    assert cut == "".join(received) + " …"

    held.release()
    assert "".join(await collect(llm, "Sorry, go on.", history)) == SCRIPT
    assert [m["content"] for m in history.messages] == [
        "Barge in on me.",
        cut,
        "Sorry, go on.",
        SCRIPT,
    ]


async def test_cancel_before_first_token_records_nothing(server, llm) -> None:
    server.first_token_delay_s = 600.0  # no token comes (a stop ends the wait)
    llm.first_token_timeout_s = llm.total_timeout_s = 600.0  # nor does a timeout
    history = ChatHistory()
    task = asyncio.create_task(collect(llm, "Never mind.", history))
    deadline = time.monotonic() + 30
    while not server.requests:  # cancelled while the server has the request, not before
        assert time.monotonic() < deadline, "the request never reached the server"
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(history) == 0


async def test_abandoned_stream_is_marked_cut_off(server, llm) -> None:
    history = ChatHistory()
    async with aclosing(reply(llm, "Stop early.", history)) as deltas:
        first = await anext(deltas)
    assert history.messages == [
        {"role": "user", "content": "Stop early."},
        {"role": "assistant", "content": first.text + " …"},
    ]


async def test_sixteen_concurrent_streams(server, llm) -> None:
    server.first_token_delay_s, server.tokens_per_s = 0.3, 20.0
    server.script = lambda messages: f"You asked about {messages[-1]['content']} today."
    # A loaded 2-core machine can take over a second to start 16 streams: this test is about
    # concurrency, so it gives the first token more time than the timeout tests do.
    llm.first_token_timeout_s = 15.0
    histories = [ChatHistory() for _ in range(16)]
    replies = await asyncio.gather(*(collect(llm, f"topic{i}", h) for i, h in enumerate(histories)))
    for i, (deltas, history) in enumerate(zip(replies, histories, strict=True)):
        assert "".join(deltas) == f"You asked about topic{i} today."
        assert history.messages[1]["content"] == f"You asked about topic{i} today."
    assert server.completed_streams == 16
