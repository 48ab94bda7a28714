"""Settings of the conversation: text limits and voice activity detection.

The language model's settings are in ``config.llm_settings``, speech recognition's in
``config.asr_settings`` (one class per engine).
"""

from __future__ import annotations

from pydantic import Field

from config.section import Section

_FIRST_CLAUSE = (
    "The first piece of a reply may end at a comma once it takes this long to say "
    "(estimated: ~15 characters of English or ~4 Han characters a second; 0: off)."
)


class TextSettings(Section):
    first_clause_min_s: float = Field(2.0, ge=0, description=_FIRST_CLAUSE)
    max_sentence_chars: int = Field(
        220, ge=20, description="Force-split text with no sentence end at a word boundary here."
    )
    max_input_chars: int = Field(
        2000, gt=0, description="Longest text accepted from a user (say/ask/text message)."
    )


class VADSettings(Section):
    enabled: bool = Field(True, description="Detect speech in microphone audio (Silero VAD).")
    threshold: float = Field(0.5, gt=0, lt=1, description="Speech probability that starts speech.")
    neg_threshold: float | None = Field(
        None, gt=0, lt=1, description="Probability below which speech ends (None: threshold-0.15)."
    )
    min_speech_ms: int = Field(
        250, ge=0, description="Speech shorter than this is ignored as a blip."
    )
    min_silence_ms: int = Field(
        500, ge=0, description="Silence that ends an utterance (endpointing)."
    )
    pre_roll_ms: int = Field(300, ge=0, description="Audio kept before speech onset for ASR.")
    max_utterance_s: float = Field(
        30.0, gt=1, description="Longer continuous speech is cut into utterances here."
    )
    barge_in: bool = Field(
        True,
        description="Speech while the avatar talks interrupts it (like the interrupt message).",
    )
    barge_in_ms: int = Field(
        96, ge=32, description="Sustained speech needed to interrupt the avatar."
    )
