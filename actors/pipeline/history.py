"""Conversation history (alternating user/assistant messages) and how a streamed
reply is recorded in it: the conversation wraps the LLM's stream in ``record_reply``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from actors.core.messages import TextDelta

ROLES = ("user", "assistant")
CUT_OFF_MARK = " …"  # ends a reply that was interrupted, so the model knows


class ChatHistory:
    """Past exchanges as ``{"role", "content"}`` dicts, oldest first.

    Invariant: messages alternate ``user``, ``assistant``, ``user``, ... and end with
    an ``assistant`` message, so every user message has its reply. History is stored
    in whole exchanges; adding one beyond ``max_messages`` drops the oldest exchanges
    (an odd bound is rounded down). The system prompt is not stored here: the model
    adds its persona to every request.
    """

    def __init__(
        self, messages: list[dict[str, str]] | None = None, *, max_messages: int = 20
    ) -> None:
        if not isinstance(max_messages, int) or isinstance(max_messages, bool) or max_messages < 0:
            raise ValueError(f"max_messages must be an int >= 0, got {max_messages!r}")
        self.max_messages = max_messages
        self._messages: list[dict[str, str]] = []
        for message in _validated(messages or []):
            self._messages.append(dict(message))
        self._trim()

    @property
    def messages(self) -> list[dict[str, str]]:
        """A copy of the stored messages."""
        return [dict(m) for m in self._messages]

    def __len__(self) -> int:
        return len(self._messages)

    def recent(self, max_messages: int) -> list[dict[str, str]]:
        """Copies of the newest whole exchanges, at most ``max_messages`` messages."""
        keep = max(0, max_messages) // 2 * 2
        return [dict(m) for m in self._messages[len(self._messages) - keep :]] if keep else []

    def add_exchange(self, user_text: str, reply: str) -> dict[str, str]:
        """Append a user message and its reply; return the stored reply message.

        A streaming caller updates the returned dict's ``content`` in place as more of
        the reply arrives, so the history is consistent at every moment.
        """
        reply_message = {"role": "assistant", "content": reply}
        self._messages += [{"role": "user", "content": user_text}, reply_message]
        self._trim()
        return reply_message

    def clear(self) -> None:
        self._messages.clear()

    def to_dict(self) -> dict[str, Any]:
        return {"max_messages": self.max_messages, "messages": self.messages}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatHistory:
        """Rebuild a history saved by ``to_dict`` (e.g. when a client reconnects)."""
        if not isinstance(data, dict):
            raise ValueError("chat history must be a dict with 'messages'")
        return cls(data.get("messages", []), max_messages=data.get("max_messages", 20))

    def _trim(self) -> None:
        excess = len(self._messages) - self.max_messages // 2 * 2
        if excess > 0:
            del self._messages[:excess]


async def record_reply(
    user_text: str, history: ChatHistory, deltas: AsyncIterator[TextDelta]
) -> AsyncIterator[TextDelta]:
    """Pass ``deltas`` (an LLM's reply) through while recording the exchange in ``history``.

    The history records what the listener actually received. Before the first delta
    nothing is recorded, so a failure or cancellation (barge-in) before any text
    leaves the history untouched and a retry is clean. From the first delta on, the
    user message and the reply so far are stored, marked with " …" as cut off, and
    the mark is removed only when the stream completes. So if the stream fails,
    is cancelled or is abandoned part way, the history holds the partial reply
    marked as interrupted; roles always alternate.
    """
    text = ""
    reply: dict[str, str] | None = None
    async with aclosing(deltas):
        async for delta in deltas:
            text += delta.text
            if reply is None:
                reply = history.add_exchange(user_text, text + CUT_OFF_MARK)
            else:
                reply["content"] = text + CUT_OFF_MARK
            yield delta
    if reply is None:
        history.add_exchange(user_text, text)  # complete but empty reply
    else:
        reply["content"] = text


def _validated(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    if not isinstance(messages, list):
        raise ValueError("messages must be a list of {'role', 'content'} dicts")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise ValueError(f"message {i} must be a dict with exactly 'role' and 'content'")
        if message["role"] != ROLES[i % 2]:
            raise ValueError(f"message {i} must have role {ROLES[i % 2]!r} (roles alternate)")
        if not isinstance(message["content"], str):
            raise ValueError(f"message {i} content must be a string")
    if len(messages) % 2:
        raise ValueError("history must end with an assistant reply")
    return messages
