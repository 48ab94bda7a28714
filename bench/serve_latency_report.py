"""``bench/serve_latency.py``'s report: the latency table per level and the serve_latency
section of docs/benchmarks.md."""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter

from bench.report import fmt, machine_line, markdown_table, pct
from bench.serve_latency_cpu import CPU_HEADER
from bench.serve_latency_turns import (
    FIRST_TOKEN_S,
    REPLY,
    STALL_TOLERANCE_S,
    START_BUFFER_S,
    TOKENS_PER_S,
    Sample,
)
from tests.fakes.openai_server import split_tokens

TARGET_GAP_S, TARGET_SESSIONS = 0.150, 8


def _ms(values: list[float], q: float) -> str:
    """Percentile ``q`` in ms (``pct``'s rule), or a dash for none."""
    return fmt(1000 * pct(values, q))


def round_line(samples: list[Sample]) -> str:
    """One round of a level in a line, printed as the benchmark runs."""
    first = [s.first_media - s.sent for s in samples]
    gap = [s.first_media - s.first_sentence_done for s in samples]
    rt = sum(s.real_time for s in samples)
    stalls = sum(s.stalls for s in samples)
    return (
        f"q->media p50 {_ms(first, 0.5)} ms, gap p50 {_ms(gap, 0.5)} ms,"
        f" {rt}/{len(samples)} real time, {stalls} stalls"
    )


def _positions(times: list[float], top: int = 3) -> str:
    counts = Counter(round(t, 1) for t in times).most_common(top)
    return ", ".join(f"{t:g} ({n})" for t, n in sorted(counts)) or "—"


def summarize(results: dict[int, list[Sample]]) -> tuple[list[list], int]:
    rows, best = [], 0
    for n, samples in results.items():
        first = [s.first_media - s.sent for s in samples]
        gap = [s.first_media - s.first_sentence_done for s in samples]
        play = [s.play_start - s.sent for s in samples]
        to_llm = [s.llm_request - s.sent for s in samples]
        done = [s.first_sentence_done - s.sent for s in samples]
        enc = [s.timings.get("encode", float("nan")) / max(s.media_s, 1e-9) for s in samples]
        all_rt = all(s.real_time for s in samples)
        best = n if all_rt and n > best else best
        rows.append(
            [
                n,
                len(samples),
                _ms(to_llm, 0.5),
                _ms(done, 0.5),
                _ms(first, 0.5),
                _ms(first, 0.95),
                _ms(gap, 0.5),
                _ms(gap, 0.95),
                _ms(play, 0.5),
                f"{statistics.median(s.media_s for s in samples):.1f}",
                f"{statistics.median(s.turn_end - s.first_media for s in samples):.1f}",
                f"{statistics.median(enc):.3f}",
                sum(len(s.waits) for s in samples),
                sum(s.stalls for s in samples),
                _positions([p for s in samples for p in s.stalled_at]),
                f"{max(s.stalled_s for s in samples):.3f}",
                f"{sum(s.real_time for s in samples)}/{len(samples)}",
            ]
        )
    return rows, best


HEADER = [
    "N",
    "turns",
    "q→LLM p50 ms",
    "q→1st sentence p50 ms",
    "q→1st media p50 ms",
    "p95 ms",
    "1st media − 1st sentence p50 ms",
    "p95 ms",
    "q→playback starts p50 ms",
    "media s",
    "1st media→turn_end s",
    "encode s per media s",
    "late fragments",
    f"stalls > {STALL_TOLERANCE_S * 1000:.0f} ms",
    "stalls at media s",
    "worst total wait s",
    "real-time turns",
]


def section(by_size: dict[int, tuple[list, int]], args, load, wall_s: float) -> str:
    parts = [
        f"""## Serve latency and real-time sessions

`python3 bench/serve_latency.py` — {time.strftime("%Y-%m-%d %H:%M")}, {machine_line()}
Load average at the start: {" / ".join(f"{x:.2f}" for x in load)}; whole run {wall_s:.0f} s.
Real local Ray + Serve (`running_app`, Ray told {args.num_cpus} logical CPUs), espeak-ng TTS,
sprite avatar, libx264 `ultrafast`; a scripted OpenAI-compatible server (first token after
{FIRST_TOKEN_S * 1000:.0f} ms, then {TOKENS_PER_S:.0f} tokens/s, one word per token) answers
every question with the same {len(split_tokens(REPLY))}-token, 5-sentence reply. At each level
N, N sessions ask at the same moment; {args.rounds} rounds per level after one warm-up turn
per session; the client runs in the same process as Ray's driver. Session settings are the
defaults: `server.max_lead_s` 3 s of rendering ahead of playback, reply text batched per
`server.text_batch_ms` 100 ms; `serve_config.yaml` ships the 256 px sprite for this reason.

Definitions: *q→* times start when the question is sent. *1st sentence* is the arrival of the
`reply_delta` that completes the text of the first `sentence` event. *1st media* is the first
media fragment (the init segment comes just before it). Percentiles are over all turns of the
level. *Playback starts* when {START_BUFFER_S:g} s of the turn is playable in both tracks, or
when its last fragment is in (the web client's rule: a small jitter buffer). *Real time*: from
then on it plays where both tracks are buffered; each later fragment is due when playback
reaches the end of the media before it, `t_start + min(video end, audio end)` plus earlier
stalls (the audio end is read from each fragment's `moof`). A fragment arriving after that is
*late*: playback waits, and later deadlines move by the wait. A wait over
{STALL_TOLERANCE_S * 1000:.0f} ms is a *stall* (shorter ones the audio output's own buffer
absorbs); a turn is real time when it has no stall. *Stalls at* lists the
media times where playback stalled (count in brackets); *worst total wait* is the largest sum
of waits in one turn."""
    ]
    for size, (rows, best, cpu_rows, capacity) in by_size.items():
        one = next((r for r in rows if r[0] == 1), None)
        gap_ok = one is not None and one[6] != "—" and int(one[6]) <= TARGET_GAP_S * 1000
        gap_text = f"{one[6]} ms" if one else "not measured"
        parts.append(
            f"""### Sprite avatar {size} px

{markdown_table(HEADER, rows)}

- Target: p50 (first media − first sentence complete) for one session ≤
  {TARGET_GAP_S * 1000:.0f} ms — **{"met" if gap_ok else "missed"}** ({gap_text}).
- Target: ≥ {TARGET_SESSIONS} real-time sessions — largest N with every turn real time:
  **{best or "none"}** — **{"met" if best >= TARGET_SESSIONS else "missed"}**.

Where the CPU went during each level's rounds (CPU seconds from `/proc`; *app* = this
process and its descendants: Ray workers, raylet, GCS; *other users* = the rest of the
machine's busy time in the same window, on {os.cpu_count()} cores):

{markdown_table(CPU_HEADER, cpu_rows)}

At the median app CPU per media second, {os.cpu_count()} cores to themselves would carry
about **{capacity:.1f}** sessions in real time (upper bound: it ignores latency and jitter)."""
        )
    return "\n\n".join(parts)
