"""``bench/render.py``'s timings: each stage of the ``say`` path alone, and the whole pipeline.

Every figure is a (wall, CPU) pair in seconds; CPU time counts all threads of the process.
"""

from __future__ import annotations

import os
import time

PARAGRAPH = (
    "Thanks for asking about the weather this weekend. On Saturday morning it will be cool "
    "and a little cloudy, with a light breeze from the west. By the afternoon the clouds "
    "should clear, and the temperature will climb to about twenty degrees. Sunday looks even "
    "better, with plenty of sunshine and almost no wind at all. If you are planning a walk in "
    "the park or a picnic by the lake, Sunday afternoon is the best time to go. Just remember "
    "to bring some water, a hat and a little sunscreen. Have a lovely weekend!"
)


def thread_count() -> int:
    """Threads this process has now (the entries of /proc/self/task)."""
    return len(os.listdir("/proc/self/task"))


class Clock:
    """Wall and CPU seconds (all threads of the process) since construction."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def time_tts(settings, sentences) -> tuple[tuple[float, float], list]:
    """(wall, CPU) seconds to speak every sentence, and the frame-padded audio of each."""
    from actors.core.messages import TTSAudio, pad_to_frames
    from actors.engines.tts import tts_engines

    tts = tts_engines.create(settings.tts)
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
    threads = thread_count()
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
    from actors.pipeline.local_stages import verbatim
    from actors.pipeline.turn_events import TurnDone

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
