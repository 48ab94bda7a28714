"""``bench/soak.py``'s tables and its section of docs/benchmarks.md."""

from __future__ import annotations

import time
from collections import Counter

from bench.report import fmt, machine_line, markdown_table
from bench.soak_rss import GROWTH_FLAG
from bench.soak_run import SoakResult
from bench.soak_session import ACTIONS, BAD_FRAMES, THINK_S

SESSION_HEADER = ["session", "turns", "interrupted", "busy", "reconnects", "bad frames"]
SESSION_HEADER += ["unexpected", "usable at the end"]
LATENCY_HEADER = ["minute", "turns measured", "q→1st media p50 ms", "p95 ms"]
RSS_HEADER = ["kind", "processes", "MB after warm-up", "MB at the end", "growth %"]
RSS_HEADER += ["largest one-process growth %", "RssAnon growth %", f"≥ {GROWTH_FLAG:.0%}"]


def _pct(x: float) -> str:
    return fmt(100 * x, 1)


def session_rows(result: SoakResult) -> list[list]:
    rows = []
    for s in result.sessions:
        c = s.counts
        bad = sum(v for k, v in c.items() if k.startswith("error:"))
        rows.append(
            [s.index, s.turns, c["interrupted"], c["busy"], c["reconnects"], bad]
            + [len(s.unexpected), "yes" if s.usable else "**no**"]
        )
    return rows


def latency_rows(result: SoakResult) -> list[list]:
    return [
        [f"{m}–{m + 1}", n, fmt(1000 * p50), fmt(1000 * p95)]
        for m, n, p50, p95 in result.latency_by_minute()
    ]


def rss_rows(result: SoakResult) -> list[list]:
    mb = 1 << 20
    return [
        [g.kind, f"{g.procs[0]} → {g.procs[1]}", fmt(g.start / mb), fmt(g.end / mb)]
        + [_pct(g.growth), _pct(g.max_proc), _pct(g.anon_growth), "**yes**" if g.flagged else ""]
        for g in result.growth()
    ]


def unexpected_lines(result: SoakResult, limit: int = 30) -> list[str]:
    """The unexpected messages, alike ones counted (session numbers and ids dropped)."""
    shown = Counter(m.split(": ", 1)[1] if ": " in m else m for m in result.unexpected)
    return [f"- {n} × {m}" for m, n in shown.most_common(limit)]


def totals_line(result: SoakResult) -> str:
    c = result.counts()
    actions = ", ".join(f"{k} {c[f'action:{k}']}" for k in ACTIONS)
    frames = sum(v for k, v in c.items() if k.startswith("error:"))
    turns = [s.turns for s in result.sessions]
    usable = sum(s.usable for s in result.sessions)
    return (
        f"Actions: {actions}. Turns completed: {c['turns']} (per session {min(turns, default=0)}"
        f"–{max(turns, default=0)}); interrupted {c['interrupted']}; `busy` refusals "
        f"{c['busy']}; bad frames answered with their code {frames}; reconnects "
        f"{c['reconnects']}; events of abandoned turns after a resume {c['stray']}. "
        f"**Unexpected: {len(result.unexpected)}.** Usable at the end: {usable}/"
        f"{len(result.sessions)}."
    )


def growth_line(result: SoakResult) -> str:
    """Which kinds grew by GROWTH_FLAG or more, in VmRSS and in RssAnon."""
    rows = [g for g in result.growth() if g.kind != "total"]
    by_rss = ", ".join(g.kind for g in rows if g.flagged) or "none"
    by_anon = ", ".join(g.kind for g in rows if g.anon_growth >= GROWTH_FLAG) or "none"
    return f"Grew ≥ {GROWTH_FLAG:.0%}: in VmRSS {by_rss}; in RssAnon {by_anon}."


def report(result: SoakResult) -> str:
    """Everything as Markdown: totals, per-session table, latency, RSS, unexpected."""
    totals = [s.total / (1 << 20) for s in result.rss]
    parts = [
        totals_line(result),
        markdown_table(SESSION_HEADER, session_rows(result)),
        "First-media latency by minute of the run:\n\n"
        + markdown_table(LATENCY_HEADER, latency_rows(result)),
        f"RSS of the Ray processes, from the first sample at or after {result.warmup_s:.0f} s "
        f"(end of warm-up) to the last (end of the load, {result.duration_s:.0f} s):\n\n"
        + (markdown_table(RSS_HEADER, rss_rows(result)) if result.growth() else "(no samples)"),
        growth_line(result),
        "Total RSS of the Ray processes at each sample (MB): "
        + (", ".join(f"{x:.0f}" for x in totals) or "—"),
    ]
    if result.unexpected:
        parts.append("Unexpected:\n\n" + "\n".join(unexpected_lines(result)))
    return "\n\n".join(parts)


def section(result: SoakResult, args, load: tuple[float, ...], wall_s: float) -> str:
    weights = ", ".join(f"{k} {w}" for k, w in ACTIONS.items())
    return f"""## Soak: many sessions over time

`python3 bench/soak.py --sessions {args.sessions} --duration-s {args.duration_s:g} --seed \
{args.seed}` — {time.strftime("%Y-%m-%d %H:%M")}, {machine_line()}
Load average at the start: {" / ".join(f"{x:.2f}" for x in load)}; whole run {wall_s:.0f} s
(app start, session starts, {result.duration_s:.0f} s of load, final checks).
Real local Ray + Serve (`running_app`), espeak-ng TTS, 256 px sprite, the scripted LLM of
`bench/soak.py` (first token after 300 ms, then 20 tokens/s, replies of 1–3 sentences);
`server.session_num_cpus` 0.01, `max_sessions` {args.max_sessions}, per-client limits lifted
(every socket comes from 127.0.0.1). Each session loops over seeded random actions (weights:
{weights}): a typed turn; a turn interrupted after its first media; three texts at once (the
third may get `busy`); a bad frame ({", ".join(BAD_FRAMES)}), alone or during a reply, that
must get its error code; closing the socket (idle or mid-reply) and resuming with
`?session=ID`; a ping; {THINK_S[0]:g}–{THINK_S[1]:g} s of thinking between actions.
*Unexpected*: an `error` no action expected, a socket the server closed, an event out of
order (e.g. media of an interrupted turn), a wait over {args.wait_s:g} s. *q→1st media*: from
sending a text (with nothing else in flight) to its first binary media message. RSS (`VmRSS`) is of
this process's Ray descendants (workers and actors, raylet, GCS, Ray's helpers), sampled
every 10 s; growth ≥ {GROWTH_FLAG:.0%} is marked. *RssAnon* leaves out mapped files and
shared memory (libraries, the object store): its growth is the clearer sign of a leak.

{report(result)}"""
