"""Typed settings for avatar-chat.

Every field has a default and a description. Secrets and endpoints come from the
environment (never from files): see ``ENV_OVERRIDES``. Invalid values fail at
start with pydantic's message, which names the field (``tts.edge_timeout_s``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LLMSettings(_Section):
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


class TextSettings(_Section):
    first_comma_min_chars: int = Field(
        30, ge=0, description="First piece of a reply may end at a comma once this long (0: off)."
    )
    max_sentence_chars: int = Field(
        220, ge=20, description="Force-split text with no sentence end at a word boundary here."
    )
    max_input_chars: int = Field(
        2000, gt=0, description="Longest text accepted from a user (say/ask/text message)."
    )


class TTSSettings(_Section):
    engine: Literal["auto", "edge", "espeak"] = Field(
        "auto", description="auto: edge-tts with espeak-ng fallback; edge or espeak: only that."
    )
    edge_voice: str = Field("en-US-AriaNeural", description="edge-tts voice name.")
    espeak_voice: str = Field("en-us", description="espeak-ng voice (language) name.")
    espeak_rate_wpm: int = Field(165, ge=80, le=450, description="espeak-ng speaking rate.")
    edge_timeout_s: float = Field(
        2.0, gt=0, description="An edge-tts sentence slower than this falls back to espeak-ng."
    )
    breaker_retry_s: float = Field(
        30.0, ge=0, description="After an edge-tts failure, use espeak-ng only for this long."
    )
    sample_rate: int = Field(24000, description="Output sample rate of all speech (Hz).")

    @field_validator("sample_rate")
    @classmethod
    def _rate(cls, v: int) -> int:
        if v not in (16000, 24000, 48000):
            raise ValueError("must be 16000, 24000 or 48000")
        return v


class AvatarSettings(_Section):
    kind: Literal["sprite", "wav2lip"] = Field(
        "sprite", description="sprite: procedural face (no weights); wav2lip: prepared photo."
    )
    name: str | None = Field(None, description="Prepared avatar pack name (wav2lip).")
    size: int = Field(384, ge=256, le=512, description="Sprite frame width and height (px).")
    fps: int = Field(25, description="Video frame rate; Wav2Lip is trained at 25.")
    seed: int = Field(0, description="Varies when the sprite avatar blinks and glances.")
    palette: Literal["default", "night"] = Field("default", description="Sprite colour scheme.")
    mouth_smoothing: float = Field(
        0.5, ge=0.0, lt=1.0, description="Exponential smoothing of the mouth opening per frame."
    )

    @field_validator("fps")
    @classmethod
    def _fps(cls, v: int) -> int:
        if v != 25:
            raise ValueError("only 25 fps is supported (audio rates divide evenly by it)")
        return v


class LipSyncSettings(_Section):
    model: str = Field(
        "wav2lip", description="Registry name of the Wav2Lip ONNX model in models_dir."
    )
    precision: Literal["fp32", "int8"] = Field(
        "fp32", description="fp32, or int8 (static QDQ, made by `avatar-chat models quantize`)."
    )
    providers: list[str] | None = Field(
        None, description="ONNX Runtime execution providers; None: CUDA if available, else CPU."
    )
    intra_op_threads: int | None = Field(
        None, ge=1, description="Threads per inference call; None lets ONNX Runtime decide."
    )
    parallel_runs: int = Field(
        1,
        ge=1,
        le=64,
        description=(
            "Slices of a batch run at once, each on intra_op_threads threads. On a CPU, "
            "parallel_runs = cores with intra_op_threads = 1 runs batches fastest; keep 1 on GPUs."
        ),
    )
    max_batch_size: int = Field(
        16, ge=1, le=512, description="Frames gathered across sessions into one inference call."
    )
    batch_wait_timeout_s: float = Field(
        0.01, ge=0, le=1, description="How long a batch waits to fill before running."
    )
    chunk_frames: int = Field(
        8, ge=1, le=250, description="Frames per streamed chunk of a sentence (first ones early)."
    )
    chunks_in_flight: int = Field(
        3,
        ge=1,
        le=16,
        description=(
            "Chunks of one sentence sent to LipSync at once: more let the batcher fill its "
            "calls from a single session; fewer bound the work thrown away at an interrupt."
        ),
    )
    max_side: int = Field(1024, ge=128, description="Avatar inputs are downscaled to this side.")
    max_frames: int = Field(250, ge=1, description="Frames read from an avatar video.")


class EncoderSettings(_Section):
    preset: str = Field("ultrafast", description="libx264 preset.")
    crf: int = Field(23, ge=0, le=51, description="libx264 constant rate factor.")
    audio_bitrate: int = Field(64000, ge=16000, description="AAC bit rate (bit/s).")
    threads: int = Field(
        1,
        ge=0,
        le=16,
        description=(
            "libx264 threads per turn encoder (0: libx264 picks). One is the cheapest in CPU per "
            "frame, which is what many concurrent sessions need; more cut one session's latency."
        ),
    )


class VADSettings(_Section):
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


class ASRSettings(_Section):
    model: str = Field(
        "base",
        description="faster-whisper model name (downloaded on first use) or local model dir.",
    )
    worker: str = Field(
        "actors.asr:WhisperASR", description="Import path of the ASR worker class (tests swap it)."
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


class ServerSettings(_Section):
    max_sessions: int = Field(
        16, ge=1, description="Sessions admitted at once; more are refused (close code 1013)."
    )
    resume_grace_s: float = Field(
        30.0, ge=0, description="A dropped session can be resumed with its id for this long."
    )
    idle_timeout_s: float = Field(
        600.0, gt=0, description="A session with no messages for this long ends and frees memory."
    )
    max_message_bytes: int = Field(
        1 << 20, ge=1024, description="Largest client message; larger closes the socket (1009)."
    )
    max_messages_per_s: float = Field(
        100.0, gt=0, description="Client message rate limit per session (audio included)."
    )
    pipeline_depth: int = Field(
        3, ge=1, le=16, description="Sentences synthesised and animated ahead of playback."
    )
    text_batch_ms: int = Field(
        100,
        ge=0,
        le=1000,
        description=(
            "Reply text arriving within this window is sent as one reply_delta event: every "
            "event costs a Ray hop, and per-token events kept the CPU busy at many sessions. "
            "Media and other events are never held back. 0: one event per LLM delta."
        ),
    )
    max_lead_s: float | None = Field(
        3.0,
        gt=0,
        description=(
            "How far ahead of the client's playback a session renders and encodes (media "
            "seconds). Spreads each reply's CPU over its playback, so sessions that start "
            "talking are not starved by others' look-ahead, and less media is thrown away "
            "at an interrupt. null: render as fast as possible."
        ),
    )
    max_queued_turns: int = Field(
        1, ge=0, description="Text messages queued while a reply runs; more get 'busy'."
    )
    warm_sessions: int = Field(
        1,
        ge=0,
        le=32,
        description=(
            "SessionActors each ingress replica keeps started ahead, so a new connection gets "
            "its session at once instead of after a worker start (~3 s on 2 cores). Each holds "
            "session_num_cpus and ~200 MB; one that waits 10 min is replaced."
        ),
    )
    session_num_cpus: float = Field(
        0.05, gt=0, description="Ray CPU reservation of each SessionActor (fractional)."
    )
    session_memory_mb: int = Field(
        200, ge=0, description="Ray memory reservation of each SessionActor (0: none)."
    )
    session_start_timeout_s: float = Field(
        60.0,
        gt=0,
        description=(
            "How long a new SessionActor may take to be placed and started (~3 s alone on 2 "
            "cores, ~17 s for 6 at once). Past it the connection gets error 'capacity' instead "
            "of waiting for cluster resources that may never free up, and the half-started "
            "actor is ended."
        ),
    )


class Settings(_Section):
    """All settings; ``Settings.load(overrides)`` applies the environment on top."""

    llm: LLMSettings = Field(default_factory=LLMSettings)
    text: TextSettings = Field(default_factory=TextSettings)
    tts: TTSSettings = Field(default_factory=TTSSettings)
    avatar: AvatarSettings = Field(default_factory=AvatarSettings)
    encoder: EncoderSettings = Field(default_factory=EncoderSettings)
    lipsync: LipSyncSettings = Field(default_factory=LipSyncSettings)
    vad: VADSettings = Field(default_factory=VADSettings)
    asr: ASRSettings = Field(default_factory=ASRSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    models_dir: Path = Field(
        Path("~/.cache/avatar-chat/models").expanduser(),
        description="Where model files are found and downloaded to.",
    )
    avatars_dir: Path = Field(
        Path("~/.cache/avatar-chat/avatars").expanduser(),
        description="Where prepared avatar packs are stored.",
    )

    @classmethod
    def load(cls, overrides: dict[str, Any] | None = None, env: dict[str, str] | None = None):
        """Build settings from nested ``overrides`` (e.g. serve_config args) plus environment."""
        data = _deep_merge(overrides or {}, _from_env(os.environ if env is None else env))
        return cls.model_validate(data)

    def with_overrides(self, overrides: dict[str, Any]) -> Settings:
        """A validated copy with ``overrides`` on top: command-line flags beat the environment."""
        return type(self).model_validate(_deep_merge(self.model_dump(), overrides))


# Environment variable -> dotted settings path. Secrets come only from here.
ENV_OVERRIDES: dict[str, str] = {
    "OPENAI_API_KEY": "llm.api_key",
    "OPENAI_BASE_URL": "llm.base_url",
    "AVATAR_CHAT_LLM_MODEL": "llm.model",
    "AVATAR_CHAT_MODELS_DIR": "models_dir",
    "AVATAR_CHAT_AVATARS_DIR": "avatars_dir",
    "AVATAR_CHAT_TTS_ENGINE": "tts.engine",
}


def _from_env(env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for var, path in ENV_OVERRIDES.items():
        value = env.get(var)
        if value:
            node = out
            *parents, leaf = path.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
    return out


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
