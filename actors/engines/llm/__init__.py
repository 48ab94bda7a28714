"""Language models, ``(ChatHistory, Transcript) -> TextDelta stream``: ``LLM`` and its engines.

    ChatLLM   "openai"  an OpenAI-compatible chat completions endpoint, streamed
    EchoLLM   "echo"    offline stand-in that repeats the user's words, labelled

``llm_engines.create(settings.llm)`` builds the engine the settings name (``llm.engine:
auto`` has already become one of these); importing this package registers both. Engines
only read the history: the conversation records each exchange (``record_reply``).
"""

from actors.engines.llm.base import LLM, LLMError, llm_engines
from actors.engines.llm.echo import ECHO_LABEL, EchoLLM
from actors.engines.llm.openai_chat import ChatLLM

__all__ = ["ECHO_LABEL", "LLM", "ChatLLM", "EchoLLM", "LLMError", "llm_engines"]
