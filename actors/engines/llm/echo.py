"""``EchoLLM``: the offline stand-in for a language model, when none is configured."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from actors.core.messages import TextDelta, Transcript
from actors.engines.llm.base import LLM, llm_engines
from actors.pipeline.history import ChatHistory
from config.llm_settings import EchoLLMSettings

__all__ = ["ECHO_LABEL", "EchoLLM"]

ECHO_LABEL = "(offline echo)"


@llm_engines.register
class EchoLLM(LLM):
    """``(ChatHistory, Transcript) -> TextDelta stream`` offline: echoes the user, labelled.

    Streams ``"(offline echo) You said: <text>"`` word by word at ``chars_per_s``; the
    history and any persona are not read. Options are ``EchoLLMSettings`` fields (or that
    object).
    """

    name = "echo"
    settings_class = EchoLLMSettings

    def __init__(self, settings: EchoLLMSettings | None = None, /, **options) -> None:
        self.settings = self.settings_from(settings, options)

    def stream(
        self, history: ChatHistory, user: Transcript, *, persona: str | None = None
    ) -> AsyncIterator[TextDelta]:
        return self._deltas(user.text)  # no system prompt: a persona changes nothing

    async def _deltas(self, user_text: str) -> AsyncIterator[TextDelta]:
        said = " ".join(user_text.split())
        reply = f"{ECHO_LABEL} You said: {said}" if said else f"{ECHO_LABEL} You said nothing."
        for word in re.findall(r"\S+\s*", reply):
            await asyncio.sleep(len(word) / self.settings.chars_per_s)
            yield TextDelta(word)
