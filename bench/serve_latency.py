"""Question-to-first-media latency and real-time capacity of the Serve app.

    python3 bench/serve_latency.py [--levels 1 4 8 12 16] [--rounds 2] [--sizes 256 384]

Starts the app on real local Ray + Serve (tests/serve_fixtures.running_app; espeak-ng, the
sprite avatar) against a scripted OpenAI-compatible server (first token after 300 ms, then
20 tokens/s). For each concurrency level N, N WebSocket sessions ask a question at the same
moment and each records when its question left, its first ``reply_delta``, the delta that
completed the first sentence, its first media fragment, every fragment and ``turn_end``.

Playback model for "real time" (the web client's rule, serve_app/static/player.js): playback
starts when START_BUFFER_S (0.5 s) of the turn is playable in both tracks, or when its last
fragment is in; it plays where both tracks are buffered. Each later fragment is due when
playback reaches the end of what arrived before it: ``t_start + min(video end, audio end) +
stalled_so_far`` (the audio end is read from the fragment's ``moof``). A fragment arriving
after that is late: playback waits for it, and later deadlines move by the wait. A wait over
20 ms (STALL_TOLERANCE_S) is a stall; a turn is real time when it has no stall.
Prints a table and writes the ``serve_latency`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from actors.media import AAC_PRIMING_SAMPLES  # noqa: E402
from actors.mp4boxes import aac_end  # noqa: E402
from bench.report import machine_line, markdown_table, write_section  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer, split_tokens  # noqa: E402

FIRST_TOKEN_S, TOKENS_PER_S = 0.3, 20.0
REPLY = (
    "Ray Serve runs every stage of this app as its own deployment. The speech engine and the "
    "avatar are shared by all sessions, so one replica serves many people at once. Each "
    "session keeps its history in a small actor of its own. The first sentence is spoken "
    "while the rest of the answer is still being written. That is why the reply starts so "
    "quickly."
)
WARM_UP_REPLY = "Ready."
# A late fragment within this is not counted as a stall (the audio output's own buffer).
STALL_TOLERANCE_S = 0.020
SAMPLE_RATE = 24000  # tts.sample_rate: the time scale of both tracks
TARGET_GAP_S, TARGET_SESSIONS = 0.150, 8
START_BUFFER_S = 0.5  # serve_app/static/player.js: START_BUFFER_S
_ASKED = re.compile(r"^\[s(\d+) r(\d+)\]")


@dataclass
class Sample:
    """One session's turn; times are ``time.perf_counter()`` seconds in this process."""

    session: int
    sent: float = 0.0
    llm_request: float = float("nan")
    first_delta: float = float("nan")
    first_sentence_done: float = float("nan")
    first_media: float = float("nan")
    play_start: float = float("nan")
    turn_end: float = float("nan")
    media_s: float = 0.0
    waits: list[tuple[float, float]] = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    @property
    def stalled_at(self) -> list[float]:
        return [at for at, wait in self.waits if wait > STALL_TOLERANCE_S]

    @property
    def stalls(self) -> int:
        return len(self.stalled_at)

    @property
    def stalled_s(self) -> float:
        return sum(wait for _, wait in self.waits)

    @property
    def real_time(self) -> bool:
        return self.stalls == 0 and self.media_s > 0


class ScriptedModel:
    """The fake server's script: records when each benchmark question reached the model."""

    def __init__(self) -> None:
        self.arrivals: dict[tuple[int, int], float] = {}
        self._lock = threading.Lock()

    def __call__(self, messages: list[dict]) -> str:
        now = time.perf_counter()
        asked = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        if m := _ASKED.match(asked):
            with self._lock:
                self.arrivals[int(m[1]), int(m[2])] = now
            return REPLY
        return WARM_UP_REPLY


def audio_end_s(fragment: bytes, sample_rate: int = SAMPLE_RATE) -> float:
    """End (media seconds) of the AAC audio in a fragment; the init segment's edit list
    hides the 1024 priming samples. 0 if the fragment has no audio."""
    end = aac_end(fragment)
    return (end - AAC_PRIMING_SAMPLES) / sample_rate if end else 0.0


def playback_start(fragments: list[tuple[float, float, float]]) -> tuple[int, float]:
    """Index and arrival of the fragment that starts playback: the web client plays once
    ``START_BUFFER_S`` is playable (both tracks), or when the turn's last fragment is in."""
    video = audio = 0.0
    for i, (arrival, video_end, audio_end) in enumerate(fragments):
        video, audio = max(video, video_end), max(audio, audio_end)
        if min(video, audio) >= START_BUFFER_S:
            return i, arrival
    return len(fragments) - 1, fragments[-1][0]


def playback_waits(fragments: list[tuple[float, float, float]]) -> list[tuple[float, float]]:
    """``(media time, seconds)`` of every wait of the playback model over ``(arrival,
    video_end, audio_end)`` fragments: playback starts as ``playback_start`` says; each later
    fragment is due when playback reaches the end of what came before it, and a wait delays
    every later deadline."""
    started, start_at = playback_start(fragments)
    video = audio = playable = stalled = 0.0
    waits: list[tuple[float, float]] = []
    for i, (arrival, video_end, audio_end) in enumerate(fragments):
        due = start_at + playable + stalled
        if i > started and arrival > due:
            waits.append((playable, arrival - due))
            stalled += arrival - due
        video, audio = max(video, video_end), max(audio, audio_end)
        playable = min(video, audio)  # a media element plays only where both tracks are buffered
    return waits


def first_sentence_done(turn, sentence: str) -> float:
    """Arrival of the reply_delta after which the text holds all of ``sentence``."""
    want, text = " ".join(sentence.split()), ""
    for item in turn.items:
        if item.event is not None and item.event["type"] == "reply_delta":
            text += item.event["text"]
            if " ".join(text.split()).startswith(want):
                return item.at
    return float("nan")


async def one_turn(client, index: int, round_no: int, model: ScriptedModel) -> Sample:
    sample = Sample(index)
    sample.sent = time.perf_counter()
    await client.ask(f"[s{index} r{round_no}] What does Ray Serve do in this app?")
    turn = await client.until("turn_end", timeout=300)
    sample.llm_request = model.arrivals.get((index, round_no), float("nan"))
    deltas = [r.at for r in turn.items if r.event and r.event["type"] == "reply_delta"]
    sample.first_delta = deltas[0] if deltas else float("nan")
    sentences = turn.of_type("sentence")
    if sentences:
        sample.first_sentence_done = first_sentence_done(turn, sentences[0]["text"])
    fragments = [
        (r.at, r.header["start_s"] + r.header["duration_s"], audio_end_s(r.payload))
        for r in turn.media
        if r.header["kind"] == "fragment"
    ]
    end = turn.of_type("turn_end")[-1]
    sample.turn_end, sample.media_s, sample.timings = (
        turn.items[-1].at,
        end["media_s"],
        end["timings"],
    )
    if fragments:
        sample.first_media = fragments[0][0]
        sample.play_start = playback_start(fragments)[1]
        sample.waits = playback_waits(fragments)
    return sample


_TICK = os.sysconf("SC_CLK_TCK")
DRIVER = "driver: clients + LLM"
GROUPS = ("SessionActor", "Avatar", "TTS", "Ingress", "ProxyActor", DRIVER)
RAY_GROUPS = ("raylet", "gcs_server", "ServeController")


def _group(cmdline: str, comm: str) -> str:
    """A process's group: its Ray actor or deployment, else its script or command name."""
    args = cmdline.split()
    if args and args[0].startswith("ray::"):
        name = args[0][5:].split(".")[0]  # ServeReplica:app:Avatar.talking -> Avatar
        return name.rsplit(":", 1)[-1] if name.startswith("ServeReplica") else name
    script = next((a for a in args[1:] if a.endswith(".py")), None)
    return Path(script).stem if comm.startswith("python") and script else comm


def cpu_by_group() -> tuple[float, dict[str, float]]:
    """Busy CPU seconds of the whole machine, and of this process and its descendants
    (Ray's raylet, GCS, workers) grouped by ``_group``."""
    procs = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        procs[int(pid)] = (int(fields[1]), _group(cmdline, comm), cpu)
    mine, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, (ppid, _, _) in procs.items() if ppid == parent and p not in mine]
        mine.update(kids)
        frontier += kids
    groups: dict[str, float] = {}
    for pid in mine:
        _, name, cpu = procs[pid]
        name = DRIVER if pid == os.getpid() else name
        groups[name] = groups.get(name, 0.0) + cpu
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    busy = (sum(ticks) - ticks[3] - ticks[4]) / _TICK  # all but idle and iowait
    return busy, groups


@dataclass
class CpuUse:
    """CPU seconds spent during one level's rounds."""

    wall_s: float
    machine_s: float
    groups: dict[str, float]

    @property
    def ours_s(self) -> float:
        return sum(self.groups.values())


async def run_levels(base: str, levels: list[int], rounds: int, model):
    from tests.ws_client import ChatClient

    clients: list[ChatClient] = []
    results: dict[int, list[Sample]] = {}
    cpu: dict[int, CpuUse] = {}
    try:
        for n in levels:
            new = [ChatClient(base) for _ in range(n - len(clients))]
            await asyncio.gather(*(c.__aenter__() for c in new))
            clients += new
            # A session's first turn starts its encoder and connections: keep it out of the figures.
            for c in new:
                await c.ask("warm up")
            await asyncio.gather(*(c.until("turn_end", timeout=120) for c in new))
            results[n] = []
            await asyncio.sleep(1.0)  # let the warm-up's tail settle
            t0, (busy0, groups0) = time.perf_counter(), cpu_by_group()
            for r in range(rounds):
                turns = (one_turn(c, i, r + 100 * n, model) for i, c in enumerate(clients[:n]))
                results[n] += await asyncio.gather(*turns)
                print(f"  N={n:2d} round {r + 1}: {_line(results[n][-n:])}", flush=True)
            busy1, groups1 = cpu_by_group()
            used = {g: v - groups0.get(g, 0.0) for g, v in groups1.items()}
            cpu[n] = CpuUse(time.perf_counter() - t0, busy1 - busy0, used)
            await asyncio.sleep(1.0)
    finally:
        await asyncio.gather(*(c.__aexit__(None, None, None) for c in clients))
    return results, cpu


def cpu_table(results: dict[int, list[Sample]], cpu: dict[int, CpuUse]) -> tuple[list, float]:
    """Rows of CPU seconds by process group per level, and the capacity they imply."""
    rows, per_media = [], []
    for n, use in cpu.items():
        media = sum(s.media_s for s in results[n])
        per_media.append(use.ours_s / media)
        other = sum(v for g, v in use.groups.items() if g not in GROUPS + RAY_GROUPS)
        rows.append(
            [n, f"{use.wall_s:.1f}", f"{use.machine_s:.1f}", f"{use.ours_s:.1f}"]
            + [f"{use.groups.get(g, 0.0):.1f}" for g in GROUPS + RAY_GROUPS]
            + [f"{other:.1f}", f"{use.machine_s - use.ours_s:.1f}", f"{use.ours_s / media:.3f}"]
        )
    # Sessions two cores could carry if this benchmark's processes had them to themselves.
    capacity = (os.cpu_count() or 1) / statistics.median(per_media)
    return rows, capacity


CPU_HEADER = [
    "N",
    "wall s",
    "machine busy CPU s",
    "app CPU s",
    *GROUPS,
    *RAY_GROUPS,
    "other Ray processes",
    "other users of the machine",
    "app CPU s per media s",
]


def _ms(values: list[float], q: float) -> str:
    """Percentile ``q`` in ms: the median for 0.5, else nearest rank."""
    values = sorted(v for v in values if v == v)  # drop NaN
    if not values:
        return "—"
    if q == 0.5:
        return f"{1000 * statistics.median(values):.0f}"
    return f"{1000 * values[max(0, math.ceil(q * len(values)) - 1)]:.0f}"


def _line(samples: list[Sample]) -> str:
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--levels", type=int, nargs="+", default=[1, 4, 8, 12, 16])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 384])
    p.add_argument("--num-cpus", type=int, default=4, help="logical CPUs Ray is told about")
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args(argv)
    if sorted(args.levels) != args.levels or args.levels[0] < 1 or args.rounds < 1:
        p.error("--levels must be increasing and >= 1; --rounds >= 1")
    from tests.serve_fixtures import running_app

    load, t0 = os.getloadavg(), time.perf_counter()
    by_size = {}
    model = ScriptedModel()
    with FakeOpenAIServer(
        model, first_token_delay_s=FIRST_TOKEN_S, tokens_per_s=TOKENS_PER_S
    ) as srv:
        for size in args.sizes:
            app_args = {
                "llm": {"base_url": srv.base_url, "model": "fake-model"},
                "tts": {"engine": "espeak"},
                "avatar": {"kind": "sprite", "size": size},
                "server": {"max_sessions": max(args.levels)},
            }
            print(f"size {size}: starting the app", flush=True)
            with running_app(app_args, num_cpus=args.num_cpus) as base:
                results, cpu = asyncio.run(run_levels(base, args.levels, args.rounds, model))
            by_size[size] = (*summarize(results), *cpu_table(results, cpu))
            print(markdown_table(HEADER, by_size[size][0]), flush=True)
            print(markdown_table(CPU_HEADER, by_size[size][2]), flush=True)
    text = section(by_size, args, load, time.perf_counter() - t0)
    print(text)
    if not args.no_write:
        print(f"wrote section 'serve_latency' of {write_section('serve_latency', text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
