"""Per-stage time and real-time factor of the ``say`` path on one core.

    python3 bench/render.py [--sizes 256 384 512] [--repeats 3] [--cpu 0] [--no-write]

Speaks a ~30 s paragraph with espeak-ng, then times each stage on its own (TTS per
sentence, sprite avatar render, fragmented-MP4 encode) and the whole in-process pipeline
(``LocalStages.pipeline()`` with the verbatim source, as ``avatar-chat say`` runs it).
Real-time factor (RTF) = media seconds / compute seconds; the target is avatar render plus
encode at least 10x faster than real time on one core. Prints a table and writes the
``render`` section of docs/benchmarks.md. Figures are medians over ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARAGRAPH = (
    "Thanks for asking about the weather this weekend. On Saturday morning it will be cool "
    "and a little cloudy, with a light breeze from the west. By the afternoon the clouds "
    "should clear, and the temperature will climb to about twenty degrees. Sunday looks even "
    "better, with plenty of sunshine and almost no wind at all. If you are planning a walk in "
    "the park or a picnic by the lake, Sunday afternoon is the best time to go. Just remember "
    "to bring some water, a hat and a little sunscreen. Have a lovely weekend!"
)
TARGET_RTF = 10.0
# Thread pools of BLAS/OpenMP/OpenCV read these once, at import: set before numpy/cv2/av load.
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def pin_one_core(cpu: int) -> None:
    for var in THREAD_VARS:
        os.environ[var] = "1"
    os.sched_setaffinity(0, {cpu})


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _settings(size: int):
    from config import Settings

    # env={}: the environment must not switch the engine or model under the benchmark
    return Settings.load({"tts": {"engine": "espeak"}, "avatar": {"size": size}}, env={})


class Clock:
    """Wall and CPU seconds (all threads of the process) since construction."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def time_tts(settings, sentences) -> tuple[tuple[float, float], list]:
    """(wall, CPU) seconds to speak every sentence, and the frame-padded audio of each."""
    from actors.messages import TTSAudio, pad_to_frames
    from actors.tts import make_tts

    tts = make_tts(settings.tts)
    tts.synthesize_blocking("Warm up.")
    clock = Clock()
    audios = [tts.synthesize_blocking(s.text) for s in sentences]
    seconds = clock.read()
    fps = settings.avatar.fps
    padded = [TTSAudio(pad_to_frames(a.pcm, a.sample_rate, fps), a.sample_rate) for a in audios]
    return seconds, padded


def time_render_encode(stages, audios) -> dict:
    """(wall, CPU) seconds of avatar render and of encode for the turn's audio."""
    avatar = stages.avatar
    clock = Clock()
    frames, first = [], 0
    for a in audios:
        f = avatar.talking(a.pcm, a.sample_rate, first_frame=first)
        frames.append(f)
        first += len(f)
    render = clock.read()
    encoder = stages.encoder()
    clock = Clock()
    encoder.start()
    threads = _threads()
    for a, f in zip(audios, frames, strict=True):
        encoder.encode(f, a.pcm)
    encoder.close()
    encode = clock.read()
    both = (render[0] + encode[0], render[1] + encode[1])
    return {"frames": first, "threads": threads, "avatar": render, "encode": encode, "both": both}


# PyAV calls inside FragmentedMP4Encoder.encode/close, grouped into the encoder's parts.
ENCODE_PARTS = {
    "av.video.frame.from_ndarray": "RGB→YUV",
    "cvtColor": "RGB→YUV",
    "av.audio.frame.from_ndarray": "AAC",
    "'encode' of 'av.video": "H.264",
    "'encode' of 'av.audio": "AAC",
}


def profile_encode(stages, audios) -> dict[str, float]:
    """CPU seconds of one encode run split into colour conversion, H.264, AAC and the rest."""
    import cProfile
    import pstats

    frames, first = [], 0
    for a in audios:
        frames.append(stages.avatar.talking(a.pcm, a.sample_rate, first_frame=first))
        first += len(frames[-1])
    encoder = stages.encoder()
    encoder.start()
    prof = cProfile.Profile(time.process_time)  # CPU time, not wall: the machine is shared
    prof.enable()
    for a, f in zip(audios, frames, strict=True):
        encoder.encode(f, a.pcm)
    encoder.close()
    prof.disable()
    stats = pstats.Stats(prof).stats
    parts = {name: 0.0 for name in ENCODE_PARTS.values()}
    total = 0.0
    for (_, _, func), (_, _, tottime, _, _) in stats.items():
        total += tottime
        for key, name in ENCODE_PARTS.items():
            if key in func:
                parts[name] += tottime
    parts["mux + other"] = total - sum(parts.values())
    return parts


async def run_pipeline(stages) -> dict:
    """One ``say`` turn: (wall, CPU) seconds, media seconds and first-media seconds."""
    from actors.local import verbatim
    from actors.turn_events import TurnDone

    clock = Clock()
    done = None
    async for event in stages.pipeline().run(verbatim(PARAGRAPH)):
        if isinstance(event, TurnDone):
            done = event
    took = clock.read()
    if done is None or done.media_s == 0:
        raise RuntimeError("the pipeline produced no media")
    first = done.timings.seconds.get("first_media", float("nan"))
    return {"pipeline": took, "media_s": done.media_s, "first_media": first}


def _median(runs: list[dict], key: str):
    """Median of a (wall, CPU) pair or of a number over the runs."""
    values = [r[key] for r in runs]
    if isinstance(values[0], tuple):
        return tuple(statistics.median(v[i] for v in values) for i in range(2))
    return statistics.median(values)


def measure(sizes: list[int], repeats: int) -> dict:
    import asyncio

    import cv2

    from actors.local import LocalStages
    from actors.text import SentenceSplitter

    cv2.setNumThreads(1)
    splitter = SentenceSplitter()
    sentences = splitter.push(PARAGRAPH) + splitter.flush()
    base = _settings(sizes[0])
    tts_runs = [time_tts(base, sentences) for _ in range(repeats)]
    audios = tts_runs[0][1]
    out = {
        "words": len(PARAGRAPH.split()),
        "sentences": len(sentences),
        "media_s": sum(len(a.pcm) for a in audios) / audios[0].sample_rate,
        "tts": _median([{"tts": r[0]} for r in tts_runs], "tts"),
        "threads_before": _threads(),
        "sizes": {},
    }
    for size in sizes:
        stages = LocalStages(_settings(size))
        runs = [time_render_encode(stages, audios) for _ in range(repeats)]
        pipe = [asyncio.run(run_pipeline(stages)) for _ in range(repeats)]
        row = {k: _median(runs, k) for k in ("frames", "avatar", "encode", "both")}
        row["threads"] = max(r["threads"] for r in runs)
        row["encode_parts"] = profile_encode(stages, audios)
        row.update({k: _median(pipe, k) for k in ("pipeline", "media_s", "first_media")})
        out["sizes"][size] = row
    return out


def _cells(media_s: float, seconds: tuple[float, float]) -> list[str]:
    """Cells: CPU s (wall s), RTF by CPU time."""
    wall, cpu = seconds
    return [f"{cpu:.2f} ({wall:.2f})", f"{media_s / cpu:.1f}x"]


def verdict(res: dict) -> dict[int, bool]:
    """Per size: is render + encode at least TARGET_RTF x real time (by CPU time)?"""
    return {s: res["media_s"] / r["both"][1] >= TARGET_RTF for s, r in res["sizes"].items()}


def report(res: dict, *, cpu: int, repeats: int, load: tuple[float, ...]) -> str:
    from bench.report import markdown_table

    media = res["media_s"]
    met = verdict(res)
    stage_rows, part_rows, pipe_rows = [], [], []
    for size, r in res["sizes"].items():
        frames = r["frames"]
        stage_rows.append(
            [size, frames]
            + _cells(media, r["avatar"])
            + _cells(media, r["encode"])
            + _cells(media, r["both"])
            + [f"{frames / r['both'][1]:.0f}", "yes" if met[size] else "**no**"]
        )
        parts = r["encode_parts"]
        part_rows.append([size] + [f"{1000 * v / frames:.2f}" for v in parts.values()])
        pipe_rows.append(
            [size]
            + _cells(r["media_s"], r["pipeline"])
            + [f"{r['media_s'] / r['pipeline'][0]:.1f}x", f"{r['first_media']:.2f}"]
        )
    head = ["CPU s (wall s)", "RTF"]
    stage_table = markdown_table(
        ["size px", "frames"]
        + [f"{stage} {col}" for stage in ("avatar", "encode", "render+encode") for col in head]
        + ["render+encode fps", f"≥ {TARGET_RTF:.0f}x"],
        stage_rows,
    )
    part_names = list(next(iter(res["sizes"].values()))["encode_parts"])
    part_table = markdown_table(["size px"] + [f"{n} ms" for n in part_names], part_rows)
    pipe_table = markdown_table(
        ["size px", "CPU s (wall s)", "RTF (CPU)", "RTF (wall)", "first media s"], pipe_rows
    )
    threads = sorted({r["threads"] for r in res["sizes"].values()})
    met_sizes = [str(s) for s, ok in met.items() if ok]
    missed = [str(s) for s, ok in met.items() if not ok]
    summary = (f"met at {', '.join(met_sizes)} px" if met_sizes else "not met at any size") + (
        f"; missed at {', '.join(missed)} px" if missed and met_sizes else ""
    )
    return f"""## Render path (`say`), one core

`python3 bench/render.py` — {time.strftime("%Y-%m-%d %H:%M")}. The process is pinned to
CPU {cpu} (`sched_setaffinity`), with `OMP_NUM_THREADS` and friends = 1 and
`cv2.setNumThreads(1)`; medians of {repeats} runs. Load average at the start:
{" / ".join(f"{x:.2f}" for x in load)} on this shared machine, so wall times include waiting
for the core; CPU time (`time.process_time`, all threads) is the cost of the work itself and
is what the RTFs and the verdict use (wall seconds in brackets).

Reply: {res["words"]} words in {res["sentences"]} sentences, espeak-ng at 165 wpm →
**{media:.2f} s** of media at 25 fps. RTF = media seconds / compute seconds; fps = frames
per CPU second.

TTS (espeak-ng, sentence by sentence, the same at every size): wall {res["tts"][0]:.2f} s,
CPU {res["tts"][1]:.2f} s, RTF {media / res["tts"][1]:.0f}x.

{stage_table}

**Target: avatar render + encode ≥ {TARGET_RTF:.0f}x real time on one core — {summary}.**
Sprite avatar; libx264 `ultrafast` + `zerolatency`, crf 23; AAC 64 kbit/s.
libx264 runs one thread per encoder (`encoder.threads`, the default; the process had
{"/".join(map(str, threads))} thread(s) while encoding).

Where the encoder's CPU time goes, per frame (one profiled run, `cProfile` on CPU time;
"RGB→YUV" is OpenCV's `cvtColor` to I420 + PyAV's `from_ndarray`, "AAC" is FFmpeg's native encoder,
"mux + other" the per-sentence fragment muxer and Python around it):

{part_table}

Whole pipeline (`LocalStages.pipeline()`, verbatim source, as `avatar-chat say` runs it):
TTS, render and encode overlapped in threads, on the same one core.

{pipe_table}
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 384, 512])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cpu", type=int, default=0, help="the one CPU to run on")
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    pin_one_core(args.cpu)
    sys.path.insert(0, str(ROOT))
    load = os.getloadavg()
    res = measure(args.sizes, args.repeats)
    text = report(res, cpu=args.cpu, repeats=args.repeats, load=load)
    print(text)
    if not args.no_write:
        from bench.report import write_section

        print(f"wrote section 'render' of {write_section('render', text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
