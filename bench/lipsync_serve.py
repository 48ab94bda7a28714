"""``bench/lipsync.py``'s Serve figures: sessions streaming through Avatar and LipSync."""

from __future__ import annotations

import asyncio
import statistics
import time

import numpy as np

SESSIONS, SESSION_FRAMES = (1, 4, 8), 75  # 3 s: a typical sentence


def serve_modes(threads: int) -> dict[str, dict]:
    """LipSync settings per mode, each at its best on ``threads`` cores.

    Batched: 16 frames per call, gathered across sessions, run as ``threads`` one-thread
    slices at once. Unbatched: one frame per call, spread over ``threads`` threads (a
    single frame cannot be sliced; one thread alone would run it at about half the speed).
    """
    return {
        "batched": {"max_batch_size": 16, "intra_op_threads": 1, "parallel_runs": threads},
        "unbatched": {"max_batch_size": 1, "intra_op_threads": threads, "parallel_runs": 1},
    }


async def _serve_run(avatar, lipsync, audio, n_sessions: int) -> dict:
    async def session(i: int):
        t, first, frames = time.perf_counter(), None, 0
        stream = avatar.options(stream=True).talking.remote(audio, 0, len(audio.pcm), f"s{i}")
        async for chunk in stream:
            first = first or time.perf_counter() - t
            frames += len(chunk)
        return frames, first

    await lipsync.reset_stats.remote()
    t = time.perf_counter()
    done = await asyncio.gather(*(session(i) for i in range(n_sessions)))
    wall = time.perf_counter() - t
    stats = await lipsync.stats.remote()
    batches = stats["frames_per_batch"]
    mean_batch = sum(k * v for k, v in batches.items()) / max(1, sum(batches.values()))
    frames = sum(f for f, _ in done)
    return {"fps": frames / wall, "first_s": statistics.median(f for _, f in done),
            "mean_batch": mean_batch, "mixed": stats["mixed_batches"],
            "busy": stats["busy_s"] / wall, "model_ms": 1e3 * stats["busy_s"] / frames}  # fmt: skip


def serve_figures(m: dict, precision: str, threads: int, rounds: int) -> dict:
    """Best total frames/s of each (mode, sessions) over ``rounds`` interleaved rounds."""
    import ray
    from ray import serve

    from actors.core.messages import TTSAudio
    from config import Settings
    from serve_app.deployments.avatar import WAV2LIP_MAX_ONGOING, AvatarDeployment
    from serve_app.deployments.lipsync_pool import LipSyncPool
    from tests.serve_fixtures import free_port

    settings = Settings.load(
        {"avatar": {"kind": "wav2lip", "name": "astro"}, "avatars_dir": str(m["avatars"]),
         "models_dir": str(m["fp32"].parent),
         "lipsync": {"precision": precision, "intra_op_threads": threads,
                     "providers": ["CPUExecutionProvider"]}},
        env={},
    )  # fmt: skip
    data = settings.model_dump(mode="json", exclude={"llm": {"api_key"}})
    pcm = np.random.default_rng(0).normal(0, 3000, SESSION_FRAMES * 960).astype(np.int16)
    audio = TTSAudio(pcm, 24000, "bench")  # 24 kHz speech-like noise, SESSION_FRAMES frames
    ray.init(
        address="local",  # a Ray of its own, never a cluster left running on this machine
        num_cpus=4,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    results: dict = {}
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": free_port()})  # not 8000: shared
        apps = {}  # one app per mode, side by side: no redeploy between runs, only one busy
        for mode, options in serve_modes(threads).items():
            lipsync_data = {**data, "lipsync": {**data["lipsync"], **options}}
            size = options["max_batch_size"]
            pool = LipSyncPool.options(user_config={"max_batch_size": size}).bind(lipsync_data)
            name = f"lipsync-bench-{mode}"
            avatar_stage = AvatarDeployment.options(max_ongoing_requests=WAV2LIP_MAX_ONGOING)
            app = avatar_stage.bind(data, pool)
            avatar = serve.run(app, name=name, route_prefix=f"/{name}")
            lipsync = serve.get_deployment_handle("LipSync", app_name=name)
            asyncio.run(_serve_run(avatar, lipsync, audio, 1))  # warm up
            apps[mode] = avatar, lipsync
        for _ in range(rounds):  # interleaved, so both modes see the same neighbours
            for n in SESSIONS:
                for mode, (avatar, lipsync) in apps.items():
                    r = asyncio.run(_serve_run(avatar, lipsync, audio, n))
                    print(f"  serve {mode} sessions={n}: {r['fps']:.2f} fps", flush=True)
                    if r["fps"] > results.get((mode, n), {"fps": 0.0})["fps"]:
                        results[(mode, n)] = r
    finally:
        serve.shutdown()
        ray.shutdown()
    return results
