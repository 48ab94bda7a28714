"""``bench/render.py``'s report: the ``render`` section of docs/benchmarks.md."""

from __future__ import annotations

import time

from bench.report import markdown_table

TARGET_RTF = 10.0


def _cells(media_s: float, seconds: tuple[float, float]) -> list[str]:
    """Cells: CPU s (wall s), RTF by CPU time."""
    wall, cpu = seconds
    return [f"{cpu:.2f} ({wall:.2f})", f"{media_s / cpu:.1f}x"]


def verdict(res: dict) -> dict[int, bool]:
    """Per size: is render + encode at least TARGET_RTF x real time (by CPU time)?"""
    return {s: res["media_s"] / r["both"][1] >= TARGET_RTF for s, r in res["sizes"].items()}


def report(res: dict, *, cpu: int, repeats: int, load: tuple[float, ...]) -> str:
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
