"""EchoLLM (the offline model), the history rule of ``record_reply``, ChatHistory."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from actors.core.messages import TextDelta, Transcript
from actors.engines.llm import ChatLLM, EchoLLM, llm_engines
from actors.pipeline.history import ChatHistory, record_reply
from config import EchoLLMSettings, OpenAIChatSettings, Settings

pytestmark = pytest.mark.unit


async def collect(llm: EchoLLM, text: str, history: ChatHistory) -> list[str]:
    """The reply's texts, recorded in ``history`` as the conversation does it."""
    source = record_reply(text, history, llm.stream(history, Transcript(text)))
    async with aclosing(source) as deltas:
        return [d.text async for d in deltas]


async def test_echo_streams_labelled_text_deltas_and_never_touches_the_history() -> None:
    history = ChatHistory([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
    before = history.messages
    async with aclosing(EchoLLM(chars_per_s=10_000).stream(history, Transcript("  hi  you "))) as s:
        deltas = [d async for d in s]
    assert all(isinstance(d, TextDelta) and d.text.strip() for d in deltas)
    assert "".join(d.text for d in deltas) == "(offline echo) You said: hi you"
    assert history.messages == before  # recording is the conversation's job


async def test_record_reply_keeps_the_exchange() -> None:
    history = ChatHistory()
    deltas = await collect(EchoLLM(chars_per_s=10_000), "  how are   you today? ", history)
    assert "".join(deltas) == "(offline echo) You said: how are you today?"
    assert len(deltas) == 8  # one per word
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


async def test_a_reply_cut_off_stays_marked_in_the_history() -> None:
    history = ChatHistory()
    llm = EchoLLM(chars_per_s=1e6)
    source = record_reply("one two three", history, llm.stream(history, Transcript("x")))
    async with aclosing(source) as deltas:
        first = await anext(deltas)
    assert first == TextDelta("(offline ")
    assert history.messages == [
        {"role": "user", "content": "one two three"},
        {"role": "assistant", "content": "(offline  …"},
    ]


async def test_a_reply_that_fails_before_any_text_leaves_the_history_as_it_was() -> None:
    async def failing():
        raise RuntimeError("down")
        yield TextDelta("never")  # pragma: no cover - makes this an async generator

    history = ChatHistory()
    with pytest.raises(RuntimeError):
        async with aclosing(record_reply("hi", history, failing())) as deltas:
            async for _ in deltas:
                pass
    assert history.messages == []


def test_the_registry_builds_echo_offline_and_openai_with_an_endpoint() -> None:
    assert llm_engines.names() == ["echo", "openai"]
    echo = llm_engines.create(Settings.load({"llm": {"chars_per_s": 42.0}}, env={}).llm)
    assert isinstance(echo, EchoLLM) and echo.settings.chars_per_s == 42.0
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "OPENAI_API_KEY": "sk-test"}
    settings = Settings.load({"llm": {"model": "x", "chars_per_s": 1.0}}, env=env).llm
    assert isinstance(settings, OpenAIChatSettings)  # the echo's pace is ignored here
    chat = llm_engines.create(settings)
    assert isinstance(chat, ChatLLM) and chat.model == "x"
    asyncio.run(chat.aclose())
    assert isinstance(llm_engines.create(EchoLLMSettings()), EchoLLM)


def test_auto_means_echo_without_an_endpoint_even_with_a_model_named() -> None:
    s = Settings.load(env={"AVATAR_CHAT_LLM_MODEL": "local-model"})
    assert s.llm.engine == "echo" and s.llm.stand_in and s.llm.model_name == "echo"
    explicit = Settings.load({"llm": {"engine": "echo"}}, env={"OPENAI_API_KEY": "sk-x"})
    assert explicit.llm.engine == "echo"  # a key in the environment does not override it
    again = Settings.load(explicit.model_dump(mode="json"), env={"OPENAI_API_KEY": "sk-x"})
    assert again.llm == explicit.llm  # a dump re-read where the key is set (a replica)


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
