"""Settings of the server: admission, sessions, limits and resource reservations."""

from __future__ import annotations

from pydantic import Field

from config.section import Section


class ServerSettings(Section):
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
