"""Prometheus metrics through Ray's metrics agent (scraped from each node's metrics port).

Names: ``avatar_chat_stage_seconds{stage}`` (per-turn seconds per stage),
``avatar_chat_first_media_seconds`` (turn start to first media fragment),
``avatar_chat_sessions`` (sessions admitted, per ingress replica),
``avatar_chat_client_errors_total{code}``.
"""

from __future__ import annotations

from functools import cache

_BOUNDARIES = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0]


@cache
def _metrics():
    from ray.util import metrics

    return {
        "stage": metrics.Histogram(
            "avatar_chat_stage_seconds",
            description="Seconds spent in each stage of a reply turn.",
            boundaries=_BOUNDARIES,
            tag_keys=("stage",),
        ),
        "first_media": metrics.Histogram(
            "avatar_chat_first_media_seconds",
            description="Seconds from the start of a turn to its first media fragment.",
            boundaries=_BOUNDARIES,
        ),
        "sessions": metrics.Gauge(
            "avatar_chat_sessions", description="Sessions currently admitted."
        ),
        "errors": metrics.Counter(
            "avatar_chat_client_errors_total",
            description="Error events sent to clients, by code.",
            tag_keys=("code",),
        ),
    }


def record_turn(timings: dict[str, float]) -> None:
    """Record one finished turn's stage timings (called in the session host)."""
    m = _metrics()
    for stage, seconds in timings.items():
        if stage == "first_media":
            m["first_media"].observe(seconds)
        else:
            m["stage"].observe(seconds, tags={"stage": stage})


def record_sessions(count: int) -> None:
    _metrics()["sessions"].set(count)


def record_client_error(code: str) -> None:
    # str(): an ErrorCode member becomes its plain string, the type Ray's tag values take.
    _metrics()["errors"].inc(tags={"code": str(code)})
