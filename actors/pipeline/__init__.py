"""The turn: from the user's words to ordered media, independent of where the engines run.

splitter       SentenceSplitter  TextDelta -> Sentence
turn           TurnPipeline      TextDelta stream -> TurnEvent stream (speak, animate,
                                 encode; overlapped, delivered in order, paced by playback)
conversation   Conversation      user text -> outbox items (history, queued turns, interrupts)
voice_input    VoiceInput        microphone PCM -> VAD -> ASR -> a turn, and barge-in
history        ChatHistory       the exchanges sent with each request; record_reply
outbox         next_batch        batching a session's items per hop; DroppedTurns
local_stages   LocalStages       the engines in this process (CLI, notebooks, benchmarks)
"""

from actors.pipeline.conversation import Conversation
from actors.pipeline.history import ChatHistory, record_reply
from actors.pipeline.outbox import DroppedTurns, StreamBreak, StreamEnd, next_batch
from actors.pipeline.splitter import SentenceSplitter
from actors.pipeline.turn import TurnPipeline

__all__ = [
    "ChatHistory",
    "Conversation",
    "DroppedTurns",
    "SentenceSplitter",
    "StreamBreak",
    "StreamEnd",
    "TurnPipeline",
    "next_batch",
    "record_reply",
]
