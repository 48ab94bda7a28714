"""The LLM capability: ``Transcript -> TextDelta stream``, a reply streamed as it is written."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

from actors.core.errors import ErrorCode
from actors.core.messages import TextDelta, Transcript
from actors.engines.engine_registry import Engine, EngineRegistry
from actors.pipeline.history import ChatHistory
from config.llm_settings import LLMEngineSettings

__all__ = ["LLM", "LLMError", "llm_engines"]


class LLMError(Exception):
    """A failed reply. ``code`` is one of the ``ErrorCode.LLM_*`` members (llm_timeout,
    llm_http_error, llm_connection_error, llm_stream_error, llm_bad_response). The message
    never contains an API key."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class LLM(Engine, ABC):
    """``(ChatHistory, Transcript) -> TextDelta stream``: the reply to what the user said.

    An engine reads ``history`` (the past exchanges, oldest first) to build its prompt and
    yields the reply in pieces as they are written; it never changes ``history``: the
    conversation records the exchange (``actors.pipeline.history.record_reply``). Failures
    raise ``LLMError``. ``stream`` returns an async generator, which the consumer may close
    early (a barge-in): it then releases its connection at once.

    ``persona``, when given, is this reply's whole system prompt in place of the engine's own
    (its settings'): a session's persona and language instruction. An engine without a
    system prompt (the echo) ignores it. The conversation passes it only when the session
    chose a persona or a language, so an engine written before it existed still runs the
    sessions that chose neither.
    """

    name: str
    settings_class: type[LLMEngineSettings]

    @abstractmethod
    def stream(
        self, history: ChatHistory, user: Transcript, *, persona: str | None = None
    ) -> AsyncIterator[TextDelta]:
        """The reply's deltas. ``history`` is read before the first delta is yielded (the
        conversation starts recording this exchange once the first delta arrives);
        ``persona`` (None: the engine's own) is the system prompt of this reply."""

    async def aclose(self) -> None:  # noqa: B027 - engines with connections override it
        """Release what the engine holds (an HTTP client); it is not used afterwards."""


llm_engines: EngineRegistry[LLM] = EngineRegistry("LLM", LLM, LLMEngineSettings)
