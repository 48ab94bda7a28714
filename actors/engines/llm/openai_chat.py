"""``ChatLLM``: replies streamed from an OpenAI-compatible chat completions endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from actors.core.errors import ErrorCode
from actors.core.messages import TextDelta, Transcript
from actors.engines.llm.base import LLM, LLMError, llm_engines
from actors.pipeline.history import ChatHistory
from config.llm_settings import OpenAIChatSettings

if TYPE_CHECKING:
    import openai

__all__ = ["ChatLLM"]


@llm_engines.register
class ChatLLM(LLM):
    """``(ChatHistory, Transcript) -> TextDelta stream`` from an OpenAI-compatible endpoint.

    Each request carries the persona (the settings', or the one ``stream`` is given) as
    system prompt, the newest ``max_history_messages`` of the history and the user's text.
    Failures surface as ``LLMError`` quickly: the client does not retry, no text within
    ``first_token_timeout_s`` or no complete reply within ``total_timeout_s`` is
    ``llm_timeout``. Options are ``OpenAIChatSettings`` fields (or that object).
    """

    name = "openai"
    settings_class = OpenAIChatSettings

    def __init__(self, settings: OpenAIChatSettings | None = None, /, **options) -> None:
        self.settings = s = self.settings_from(settings, options)
        self.model = s.model
        self.persona = s.persona
        self.temperature = s.temperature
        self.max_tokens = s.max_tokens
        self.first_token_timeout_s = s.first_token_timeout_s
        self.total_timeout_s = s.total_timeout_s
        self.max_history_messages = s.max_history_messages
        key = s.api_key.get_secret_value() if s.api_key is not None else None
        import openai  # here, not at import: ~20 MB and 500 modules no other engine needs

        self._client = openai.AsyncOpenAI(
            base_url=s.base_url,
            # Local OpenAI-compatible servers need no key, but the client insists on one.
            api_key=key if key is not None else "not-needed",
            max_retries=0,
            # Our own deadlines govern; the HTTP timeout is only a backstop for the socket.
            timeout=openai.Timeout(
                s.total_timeout_s + 1.0, connect=min(s.first_token_timeout_s, 10.0)
            ),
        )

    def stream(
        self, history: ChatHistory, user: Transcript, *, persona: str | None = None
    ) -> AsyncIterator[TextDelta]:
        """Yield the reply's deltas as they arrive; raise ``LLMError`` on failure. ``persona``
        (a session's) replaces the settings' persona as the system prompt."""
        messages = [
            {"role": "system", "content": self.persona if persona is None else persona},
            *history.recent(self.max_history_messages),
            {"role": "user", "content": user.text},
        ]
        return self._deltas(messages)

    async def aclose(self) -> None:
        await self._client.close()

    async def _deltas(self, messages: list[dict[str, str]]) -> AsyncIterator[TextDelta]:
        import openai

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
                    yield TextDelta(text)
        except TimeoutError as err:
            if got_text:
                raise LLMError(
                    ErrorCode.LLM_TIMEOUT, f"reply took over {self.total_timeout_s:g} s"
                ) from err
            raise LLMError(
                ErrorCode.LLM_TIMEOUT, f"no reply text within {self.first_token_timeout_s:g} s"
            ) from err
        except openai.APIError as err:
            raise _mapped(err, started=stream is not None) from err
        except ValueError as err:  # invalid JSON (json.JSONDecodeError) or chunk shape
            raise LLMError(
                ErrorCode.LLM_BAD_RESPONSE, f"malformed chunk from the LLM endpoint: {err}"
            ) from err
        finally:
            if stream is not None:
                await stream.close()
        if not finished:
            raise LLMError(
                ErrorCode.LLM_STREAM_ERROR, "the LLM stream ended before the reply was complete"
            )


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
    import openai

    if isinstance(err, openai.APITimeoutError):
        return LLMError(ErrorCode.LLM_TIMEOUT, "the LLM endpoint timed out")
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        if status in (401, 403):  # the server's text may echo part of the key
            return LLMError(
                ErrorCode.LLM_HTTP_ERROR, f"LLM endpoint refused the API key (HTTP {status})"
            )
        body = err.body if isinstance(err.body, dict) else {}
        detail = str(body.get("message") or "no details")[:200]
        return LLMError(ErrorCode.LLM_HTTP_ERROR, f"LLM endpoint answered HTTP {status}: {detail}")
    if isinstance(err, openai.APIConnectionError):
        if started:
            return LLMError(
                ErrorCode.LLM_STREAM_ERROR, "connection to the LLM endpoint dropped mid-reply"
            )
        return LLMError(ErrorCode.LLM_CONNECTION_ERROR, "cannot connect to the LLM endpoint")
    return LLMError(ErrorCode.LLM_STREAM_ERROR, f"LLM endpoint reported an error: {str(err)[:200]}")
