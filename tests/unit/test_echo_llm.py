"""EchoLLM (the offline model), the history rule it shares with ChatLLM, ChatHistory."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from actors.engines.llm.openai_chat import ChatHistory, ChatLLM, EchoLLM, make_llm
from config import LLMSettings

pytestmark = pytest.mark.unit


async def collect(llm: EchoLLM, text: str, history: ChatHistory) -> list[str]:
    async with aclosing(llm.stream(text, history)) as deltas:
        return [d async for d in deltas]


async def test_echo_streams_labelled_text_in_several_deltas() -> None:
    history = ChatHistory()
    deltas = await collect(EchoLLM(chars_per_s=10_000), "  how are   you today? ", history)
    assert "".join(deltas) == "(offline echo) You said: how are you today?"
    assert len(deltas) == 8  # one per word
    assert all(d.strip() for d in deltas)
    assert history.messages == [
        {"role": "user", "content": "  how are   you today? "},
        {"role": "assistant", "content": "(offline echo) You said: how are you today?"},
    ]


async def test_echo_of_long_and_empty_text() -> None:
    long_text = " ".join(["word"] * 600)
    deltas = await collect(EchoLLM(chars_per_s=1e6), long_text, ChatHistory())
    assert "".join(deltas) == f"(offline echo) You said: {long_text}"
    assert "".join(await collect(EchoLLM(chars_per_s=1e6), "   ", ChatHistory())) == (
        "(offline echo) You said nothing."
    )


async def test_echo_is_paced_by_chars_per_s() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await collect(EchoLLM(chars_per_s=100), "hi", ChatHistory())  # 27 characters
    assert loop.time() - started >= 0.25


async def test_cancelled_echo_keeps_partial_reply_marked() -> None:
    history = ChatHistory()
    async with aclosing(EchoLLM(chars_per_s=1e6).stream("one two three", history)) as deltas:
        first = await anext(deltas)
    assert first == "(offline "
    assert history.messages == [
        {"role": "user", "content": "one two three"},
        {"role": "assistant", "content": "(offline  …"},
    ]


def test_make_llm_picks_echo_offline_and_chat_otherwise() -> None:
    settings = LLMSettings(echo_chars_per_s=42.0)
    echo = make_llm(settings)
    assert isinstance(echo, EchoLLM) and echo.chars_per_s == 42.0
    online = LLMSettings(base_url="http://127.0.0.1:1/v1", api_key="sk-test", model="x")
    chat = make_llm(online)
    assert isinstance(chat, ChatLLM) and chat.model == "x"
    asyncio.run(chat.aclose())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": None, "api_key": None},
        {"model": ""},
        {"temperature": 3.0},
        {"max_tokens": 0},
        {"first_token_timeout_s": 0},
        {"total_timeout_s": -1.0},
        {"max_history_messages": -2},
        {"max_history_messages": 2.5},
    ],
)
def test_chat_llm_validates_options(kwargs) -> None:
    options = {"base_url": "http://127.0.0.1:1/v1", **kwargs}
    with pytest.raises(ValueError):
        ChatLLM(**options)


def test_echo_validates_pace() -> None:
    with pytest.raises(ValueError, match="chars_per_s"):
        EchoLLM(chars_per_s=0)


def test_history_trims_whole_exchanges_and_round_trips() -> None:
    history = ChatHistory(max_messages=5)  # rounded down to 2 exchanges
    for i in range(4):
        history.add_exchange(f"q{i}", f"a{i}")
    assert [m["content"] for m in history.messages] == ["q2", "a2", "q3", "a3"]
    assert [m["content"] for m in history.recent(2)] == ["q3", "a3"]
    assert history.recent(0) == []
    restored = ChatHistory.from_dict(history.to_dict())
    assert restored.messages == history.messages and restored.max_messages == 5


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "assistant", "content": "hi"}],
        [{"role": "user", "content": "hi"}],
        [{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}],
        [{"role": "user", "content": 3}, {"role": "assistant", "content": "x"}],
        [{"role": "system", "content": "x"}, {"role": "user", "content": "x"}],
    ],
)
def test_history_rejects_broken_alternation(messages) -> None:
    with pytest.raises(ValueError):
        ChatHistory.from_dict({"messages": messages})
