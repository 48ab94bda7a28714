"""Settings of the server: admission, sessions, limits and resource reservations."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from config.section import Section

_ORIGIN = re.compile(r"https?://[^/\s:]+(:\d{1,5})?/?", re.IGNORECASE)


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
    max_text_message_bytes: int = Field(
        16384,
        ge=1024,
        description=(
            "Largest JSON text message (a few times text.max_input_chars: Han characters take 3 "
            "bytes in UTF-8, 6 as JSON escapes); larger gets error 'too_big' unparsed."
        ),
    )
    max_messages_per_s: float = Field(
        100.0, gt=0, description="Client message rate limit per session (audio included)."
    )
    max_bytes_per_s: int = Field(
        262144,
        ge=4096,
        description=(
            "Client bytes per second per socket, bursts up to one second's worth (microphone "
            "audio is 32 KB/s); messages over the budget are dropped with 'rate_limited'."
        ),
    )
    max_sessions_per_client: int = Field(
        4,
        ge=1,
        description=(
            "Sessions one client (peer address) may hold at once; at the limit its own "
            "longest-detached session makes room, or the connection is refused ('capacity')."
        ),
    )
    max_connects_per_minute: int = Field(
        30, ge=1, description="New WebSocket connections one client may open per minute."
    )
    trusted_forwarded_for: bool = Field(
        False,
        description=(
            "Take the client's address from X-Forwarded-For (only behind a reverse proxy that "
            "sets it); otherwise the socket's peer address identifies a client."
        ),
    )
    test_view: bool = Field(
        False,
        description=(
            "Put the page's test view on it (static/test-view.js: a read-only window.avatarChat "
            "of the client's turns, for browser tests). Off: the script is not served at all."
        ),
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description=(
            "Origins (scheme://host[:port]) whose pages may open /ws, besides the page's own "
            "origin and localhost, which are always allowed. Any other Origin, 'null' included, "
            "is refused before the socket is accepted; clients that send no Origin (not "
            "browsers) are let in. The optional shared token AVATAR_CHAT_TOKEN (environment) "
            "is required of everyone when set."
        ),
    )
    session_max_restarts: int = Field(
        3,
        ge=0,
        description=(
            "Times Ray restarts a session host whose process died; each of its sessions is "
            "restored with its history from the session store and its client is told "
            "'session_lost'. 0: a dead host's sessions are gone."
        ),
    )
    pipeline_depth: int = Field(
        3, ge=1, le=16, description="Sentences synthesised and animated ahead of playback."
    )
    stage_timeout_s: float = Field(
        15.0,
        gt=0,
        description=(
            "How long a turn waits for a sentence's speech from the TTS deployment, or for the "
            "next frames from the Avatar deployment. Past it the sentence is skipped "
            "(tts_error; the turn's later sentences then skip at once) or the reply cut "
            "(avatar_error): a deployment whose replicas are all gone, with a lost node, holds "
            "calls until Serve places new ones."
        ),
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
            "Sessions each ingress replica keeps started ahead at least, so a new connection "
            "gets its session at once, and a session host stays running for it (a new host "
            "is a worker start, ~3 s on 2 cores). A warm session on a running host holds a "
            "few MB; one that waits 10 min is replaced."
        ),
    )
    warm_sessions_max: int = Field(
        8,
        ge=0,
        le=64,
        description=(
            "The most sessions the warm pool grows to when connections come in bursts: "
            "it keeps as many ready as arrived within 10 s at the busiest moment of the last "
            "5 minutes (at least warm_sessions, never more than max_sessions), then shrinks "
            "back. With warm_sessions 0 there is no pool at all."
        ),
    )
    sessions_per_host: int = Field(
        8,
        ge=1,
        le=64,
        description=(
            "Sessions one session host (a Ray actor process) holds. A process costs ~110 MB "
            "and a worker start; a session in it a few MB. A host that dies takes its "
            "sessions with it (each is restored, see session_max_restarts); 1: a process "
            "per session."
        ),
    )
    session_num_cpus: float = Field(
        0.05,
        gt=0,
        description=(
            "Ray CPU reservation of each session (fractional); a host reserves it for each "
            "of its sessions_per_host slots."
        ),
    )
    session_memory_mb: int = Field(
        50,
        ge=0,
        description=(
            "Ray memory reservation of each session (0: none); a host reserves it for each "
            "of its slots."
        ),
    )
    session_resources: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "Custom Ray resources each session host (and the application's session directory "
            "and store) asks for, to keep them on chosen nodes of a cluster: e.g. "
            '`{"sessions": 0.01}` with nodes started by `ray start --resources '
            """'{"sessions": 100}'`. Empty: any node."""
        ),
    )
    session_start_timeout_s: float = Field(
        60.0,
        gt=0,
        description=(
            "How long a new session may take to be placed and started (a new host: ~3 s "
            "alone on 2 cores). Past it the connection gets error 'capacity' instead of "
            "waiting for cluster resources that may never free up, and a host that was never "
            "placed is ended. A host Ray restarts after its process died has as long to come "
            "back; past it its sessions are not restored ('session_expired')."
        ),
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins_are_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin like https://chat.example.com:8443")
        return origins

    @model_validator(mode="after")
    def _client_share_fits(self) -> ServerSettings:
        if self.max_sessions_per_client > self.max_sessions:
            raise ValueError(
                f"max_sessions_per_client ({self.max_sessions_per_client}) must not exceed "
                f"max_sessions ({self.max_sessions})"
            )
        return self
