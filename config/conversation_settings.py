"""Settings of the conversation: language model, text limits, speech in."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from config.section import Section


class LLMSettings(Section):
    base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint; None (and no api_key) means the echo model."
    )
    api_key: SecretStr | None = Field(None, description="API key; only from OPENAI_API_KEY.")
    model: str = Field("gpt-4o-mini", description="Chat model name sent to the endpoint.")
    persona: str = Field(
        "You are a friendly talking avatar. Answer briefly, in plain spoken sentences, "
        "without lists, markdown or emoji.",
        description="System prompt that sets the avatar's persona.",
    )
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature.")
    max_tokens: int = Field(400, gt=0, description="Upper bound on reply length in tokens.")
    first_token_timeout_s: float = Field(
        10.0, gt=0, description="Give up if no text arrives within this many seconds."
    )
    total_timeout_s: float = Field(60.0, gt=0, description="Give up on a reply after this long.")
    max_history_messages: int = Field(
        20, ge=0, description="Past user/assistant messages sent with each request."
    )
    echo_chars_per_s: float = Field(
        60.0, gt=0, description="Pace of the offline echo model's streamed reply."
    )

    @property
    def offline(self) -> bool:
        return self.base_url is None and self.api_key is None


class TextSettings(Section):
    first_comma_min_chars: int = Field(
        30, ge=0, description="First piece of a reply may end at a comma once this long (0: off)."
    )
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


class ASRSettings(Section):
    model: str = Field(
        "base",
        description="faster-whisper model name (downloaded on first use) or local model dir.",
    )
    worker: str = Field(
        "actors.engines.asr.whisper:WhisperASR",
        description="Import path of the ASR worker class (tests swap it).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: CUDA float16 when a GPU is present, else CPU int8."
    )
    compute_type: str | None = Field(None, description="CTranslate2 compute type (None: auto).")
    language: str | None = Field("en", description="Spoken language; None detects it.")
    beam_size: int = Field(1, ge=1, le=10, description="Beam width; 1 is fastest.")
    cpu_threads: int = Field(0, ge=0, description="CPU threads per replica (0: library default).")
    local_files_only: bool = Field(
        False, description="Never download: use only models already in models_dir."
    )
