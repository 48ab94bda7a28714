"""Language models: ``Transcript -> TextDelta stream`` (text deltas as plain ``str``).

``ChatLLM`` streams from an OpenAI-compatible endpoint; ``EchoLLM`` is the offline
stand-in. Both offer ``stream(user_text, history)`` and keep ``history`` consistent
by the same rule (see ``record_reply``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import openai

from actors.pipeline.history import ChatHistory, record_reply
from config import LLMSettings

__all__ = ["ChatHistory", "ChatLLM", "EchoLLM", "LLMError", "make_llm", "record_reply"]

ECHO_LABEL = "(offline echo)"


class LLMError(Exception):
    """A failed reply. ``code`` is one of: llm_timeout, llm_http_error,
    llm_connection_error, llm_stream_error, llm_bad_response. The message never
    contains the API key."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ChatLLM:
    """``Transcript -> TextDelta stream`` from an OpenAI-compatible chat endpoint.

    Each request carries the persona as system prompt, the newest
    ``max_history_messages`` of the history and the user's text. Failures surface
    as ``LLMError`` quickly: the client does not retry, no text within
    ``first_token_timeout_s`` or no complete reply within ``total_timeout_s`` is
    ``llm_timeout``. Iterate with ``contextlib.aclosing`` so an abandoned stream
    releases its connection at once.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str = "gpt-4o-mini",
        persona: str = "You are a friendly talking avatar.",
        temperature: float = 0.7,
        max_tokens: int = 400,
        first_token_timeout_s: float = 10.0,
        total_timeout_s: float = 60.0,
        max_history_messages: int = 20,
    ) -> None:
        if base_url is None and api_key is None:
            raise ValueError("ChatLLM needs base_url or api_key (use EchoLLM offline)")
        if not model:
            raise ValueError("model must be a non-empty string")
        if not 0.0 <= temperature <= 2.0:
            raise ValueError(f"temperature must be in [0, 2], got {temperature}")
        _positive_int("max_tokens", max_tokens)
        if first_token_timeout_s <= 0 or total_timeout_s <= 0:
            raise ValueError("first_token_timeout_s and total_timeout_s must be > 0")
        if isinstance(max_history_messages, bool) or not isinstance(max_history_messages, int):
            raise ValueError(f"max_history_messages must be an int, got {max_history_messages!r}")
        if max_history_messages < 0:
            raise ValueError(f"max_history_messages must be >= 0, got {max_history_messages}")
        self.model = model
        self.persona = persona
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.first_token_timeout_s = first_token_timeout_s
        self.total_timeout_s = total_timeout_s
        self.max_history_messages = max_history_messages
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            # Local OpenAI-compatible servers need no key, but the client insists on one.
            api_key=api_key if api_key is not None else "not-needed",
            max_retries=0,
            # Our own deadlines govern; the HTTP timeout is only a backstop for the socket.
            timeout=openai.Timeout(total_timeout_s + 1.0, connect=min(first_token_timeout_s, 10.0)),
        )

    @classmethod
    def from_settings(cls, settings: LLMSettings) -> ChatLLM:
        key = settings.api_key.get_secret_value() if settings.api_key is not None else None
        return cls(
            base_url=settings.base_url,
            api_key=key,
            model=settings.model,
            persona=settings.persona,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            first_token_timeout_s=settings.first_token_timeout_s,
            total_timeout_s=settings.total_timeout_s,
            max_history_messages=settings.max_history_messages,
        )

    def stream(self, user_text: str, history: ChatHistory) -> AsyncIterator[str]:
        """Yield the reply's text deltas as they arrive; raise ``LLMError`` on failure.

        History rule (``record_reply``): until the first delta nothing is recorded, so
        a failure or barge-in before any text leaves ``history`` as it was. From the
        first delta on it holds the user message and the reply so far marked " …" as
        cut off; on success the mark is removed. Roles always alternate.
        """
        messages = [
            {"role": "system", "content": self.persona},
            *history.recent(self.max_history_messages),
            {"role": "user", "content": user_text},
        ]
        return record_reply(user_text, history, self._deltas(messages))

    async def aclose(self) -> None:
        await self._client.close()

    async def _deltas(self, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        end_at = loop.time() + self.total_timeout_s
        first_at = min(loop.time() + self.first_token_timeout_s, end_at)
        got_text = False
        finished = False
        stream: Any = None
        try:
            # Deadlines wrap each await, never a yield: a timeout must not fire into
            # the consumer's code while this generator is suspended.
            async with asyncio.timeout_at(first_at):
                stream = await self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    temperature=self.temperature,
                    max_tokens=self.max_tokens,
                    stream=True,
                )
            while True:
                async with asyncio.timeout_at(end_at if got_text else first_at):
                    chunk = await anext(stream, None)
                if chunk is None:
                    break
                text, done = _chunk_text(chunk)
                finished = finished or done
                if text:
                    got_text = True
                    yield text
        except TimeoutError as err:
            if got_text:
                raise LLMError(
                    "llm_timeout", f"reply took over {self.total_timeout_s:g} s"
                ) from err
            raise LLMError(
                "llm_timeout", f"no reply text within {self.first_token_timeout_s:g} s"
            ) from err
        except openai.APIError as err:
            raise _mapped(err, started=stream is not None) from err
        except ValueError as err:  # invalid JSON (json.JSONDecodeError) or chunk shape
            raise LLMError(
                "llm_bad_response", f"malformed chunk from the LLM endpoint: {err}"
            ) from err
        finally:
            if stream is not None:
                await stream.close()
        if not finished:
            raise LLMError("llm_stream_error", "the LLM stream ended before the reply was complete")


class EchoLLM:
    """``Transcript -> TextDelta stream`` offline: echoes the user, clearly labelled.

    Streams ``"(offline echo) You said: <text>"`` word by word at ``chars_per_s``.
    """

    def __init__(self, *, chars_per_s: float = 60.0) -> None:
        if chars_per_s <= 0:
            raise ValueError(f"chars_per_s must be > 0, got {chars_per_s}")
        self.chars_per_s = chars_per_s

    def stream(self, user_text: str, history: ChatHistory) -> AsyncIterator[str]:
        """Yield the echo's words; ``history`` is kept by the same rule as ``ChatLLM``."""
        return record_reply(user_text, history, self._deltas(user_text))

    async def aclose(self) -> None:
        pass

    async def _deltas(self, user_text: str) -> AsyncIterator[str]:
        said = " ".join(user_text.split())
        reply = f"{ECHO_LABEL} You said: {said}" if said else f"{ECHO_LABEL} You said nothing."
        for word in re.findall(r"\S+\s*", reply):
            await asyncio.sleep(len(word) / self.chars_per_s)
            yield word


def make_llm(settings: LLMSettings) -> ChatLLM | EchoLLM:
    """The echo model when offline (no endpoint, no key), else the real one."""
    if settings.offline:
        return EchoLLM(chars_per_s=settings.echo_chars_per_s)
    return ChatLLM.from_settings(settings)


def _chunk_text(chunk: Any) -> tuple[str, bool]:
    """The content delta of a chunk and whether it finishes the reply."""
    choices = getattr(chunk, "choices", None)
    if choices is None:
        raise ValueError("chunk has no 'choices'")
    if not choices:  # e.g. a trailing usage-only chunk
        return "", False
    delta = getattr(choices[0], "delta", None)
    content = getattr(delta, "content", None) if delta is not None else None
    if content is not None and not isinstance(content, str):
        raise ValueError("delta content is not a string")
    return content or "", getattr(choices[0], "finish_reason", None) is not None


def _mapped(err: openai.APIError, *, started: bool) -> LLMError:
    if isinstance(err, openai.APITimeoutError):
        return LLMError("llm_timeout", "the LLM endpoint timed out")
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        if status in (401, 403):  # the server's text may echo part of the key
            return LLMError("llm_http_error", f"LLM endpoint refused the API key (HTTP {status})")
        body = err.body if isinstance(err.body, dict) else {}
        detail = str(body.get("message") or "no details")[:200]
        return LLMError("llm_http_error", f"LLM endpoint answered HTTP {status}: {detail}")
    if isinstance(err, openai.APIConnectionError):
        if started:
            return LLMError("llm_stream_error", "connection to the LLM endpoint dropped mid-reply")
        return LLMError("llm_connection_error", "cannot connect to the LLM endpoint")
    return LLMError("llm_stream_error", f"LLM endpoint reported an error: {str(err)[:200]}")


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be an int > 0, got {value!r}")
