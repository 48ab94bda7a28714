"""Wav2Lip on Serve: a session with the astro pack and the random-weight model, end to end;
two packs (the portrait and its mirror image) sharing the LipSync pool; avatar thumbnails.

Real Ray and Serve. This module's apps run beside the session-wide ``app_url`` app when
that one is up (``running_app`` shares the Ray instance), under their own route prefixes.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import av
import cv2
import numpy as np
import pytest
from ray import serve

from actors.core.messages import TTSAudio
from tests.serve_fixtures import running_app, serve_instance
from tests.shared import SHARED
from tests.ws_client import ChatClient, Turn

# A hang guard, not a speed limit: the module's Wav2Lip apps start inside its first test,
# and beside two CPU burners that start and one turn took over the suite's 300 s.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

APP = "lipsync"
TURN_TIMEOUT_S = 280.0  # the random model runs at a few frames/s on a shared 2-core CPU


@pytest.fixture(scope="module")
def avatars(tmp_path_factory, astro_pack, shared_models):
    """(avatars_dir, packs by name): 'astro', and 'mirror' prepared from the portrait flipped
    left to right (its own face boxes and crops, found by the test face detector)."""
    from actors.engines.avatar.prepare import prepare_avatar

    source, astro = astro_pack
    avatars = tmp_path_factory.mktemp("two-avatars")
    shutil.copytree(source / "astro", avatars / "astro")
    flipped = tmp_path_factory.mktemp("mirror") / "mirror.png"
    cv2.imwrite(str(flipped), cv2.imread(str(SHARED / "data" / "portrait_astronaut.png"))[:, ::-1])
    mirror = prepare_avatar(flipped, name="mirror", avatars_dir=avatars, models_dir=shared_models)
    return avatars, {"astro": astro, "mirror": mirror}


@pytest.fixture(scope="module")
def material(avatars, wav2lip_models_dir):
    """(settings overrides for the astro pack and the random model, the astro pack)."""
    (avatars, packs), models = avatars, wav2lip_models_dir
    pack = packs["astro"]
    args = {
        "avatar": {"kind": "wav2lip", "name": "astro"},
        # The CPU layout serve_config.wav2lip.yaml ships: two one-thread slices per call.
        "lipsync": {
            "chunk_frames": 8,
            "max_batch_size": 16,
            "intra_op_threads": 1,
            "parallel_runs": 2,
            # Every frame inferred, so frame counts are exact here; skipping silent frames
            # has its own test (test_lipsync_silence_serve.py).
            "silence_db": None,
        },
        "avatars_dir": str(avatars),
        "models_dir": str(models),
    }
    return args, pack


@pytest.fixture(scope="module")
def ray_serve():
    """One Ray + Serve for the module (shared with ``app_url``'s when that one is up)."""
    with serve_instance() as port:
        yield port


@pytest.fixture(scope="module")
def apps(ray_serve, material):
    """The Wav2Lip app; started after the sprite test's app is gone (CPUs are counted)."""
    args, pack = material
    with running_app(args, name=APP, route_prefix="/lipsync") as base:
        yield SimpleNamespace(base=base, pack=pack)


def avatar_handle():
    return serve.get_deployment_handle("Avatar", app_name=APP)


def lipsync_handle():
    return serve.get_deployment_handle("LipSync", app_name=APP)


async def fresh_stats(handle) -> None:
    """Reset the pool's statistics once it is idle: a batch still running for an earlier test
    (inference is not cancelled mid-call) would otherwise count in this one."""
    deadline = time.monotonic() + TURN_TIMEOUT_S
    while (await handle.stats.remote())["busy"]:
        assert time.monotonic() < deadline, "the LipSync pool never went idle"
        await asyncio.sleep(0.2)
    await handle.reset_stats.remote()


def frames_done(stats: dict) -> int:
    return sum(size * count for size, count in stats["frames_per_batch"].items())


def decode(mp4: bytes) -> tuple[np.ndarray, int, float]:
    """(video frames RGB, audio samples, audio seconds) of one turn's media."""
    with av.open(io.BytesIO(mp4)) as c:
        video = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    with av.open(io.BytesIO(mp4)) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
        rate = c.streams.audio[0].rate
    return video, samples, samples / rate


def check_media(turn: Turn) -> np.ndarray:
    """25 frames per media second, audio and video within 40 ms; returns the frames."""
    end = turn.of_type("turn_end")[0]
    video, _, audio_s = decode(turn.mp4())
    assert len(video) == round(end["media_s"] * 25) > 0
    assert abs(len(video) / 25 - audio_s) <= 0.04
    return video


async def test_missing_weights_fall_back_to_the_sprite_and_say_why(ray_serve, material, tmp_path):
    args = {**material[0], "models_dir": str(tmp_path)}  # the pack is there, no weights
    with running_app(args, name="lipsync-missing", route_prefix="/nolipsync") as base:
        async with ChatClient(base) as c:
            avatar = c.hello["avatar"]
            assert avatar["kind"] == "sprite"
            assert "avatar-chat models fetch wav2lip" in avatar["note"]
            assert "sprite" in avatar["note"]
            await c.ask("Hi.")
            turn = await c.until("turn_end", 120)
    check_media(turn)


async def test_session_streams_talking_frames_in_chunks(apps):
    started = time.monotonic()
    await fresh_stats(lipsync_handle())
    async with ChatClient(apps.base) as c:
        avatar = c.hello["avatar"]
        assert avatar["kind"] == "wav2lip" and avatar["streaming"] is True
        assert (avatar["width"], avatar["height"], avatar["note"]) == (512, 512, "")
        await c.ask("Hello there, my friend.")
        turn, done_at_first_fragment = Turn(), None
        while not turn.of_type("turn_end"):
            item = await c.recv(TURN_TIMEOUT_S)
            turn.items.append(item)
            if done_at_first_fragment is None and item.is_media and item.header["seq"] == 1:
                done_at_first_fragment = frames_done(await lipsync_handle().stats.remote())
    sentences = turn.of_type("sentence")
    assert len(sentences) >= 2, sentences  # split at the comma
    first_frames = round(sentences[0]["duration_s"] * 25)
    # The first fragment left before LipSync had made all of the first sentence's frames...
    assert done_at_first_fragment < first_frames, (done_at_first_fragment, first_frames)
    # ...and the first sentence went out as several fragments (chunks of 8 frames).
    starts = [m.header["start_s"] for m in turn.media if m.header["kind"] == "fragment"]
    assert sum(s < sentences[1]["start_s"] for s in starts) >= 2, starts
    video = check_media(turn)
    stats = await lipsync_handle().stats.remote()
    wall_s = time.monotonic() - started
    assert frames_done(stats) == len(video) and max(stats["frames_per_batch"]) <= 16
    # Time in inference lies within what this test's own clock saw (2x: batches may overlap):
    # a consistency check between two clocks, not a speed limit.
    assert stats["parallel_runs"] == 2 and 0 < stats["busy_s"] <= 2 * wall_s, (stats, wall_s)
    # The portrait's one face went through the face encoder once, and its mouth window has a
    # graph of its own (the rest of the crop is not computed).
    assert stats["face_cache"]["entries"] >= 1 and stats["face_cache"]["hits"] > 0, stats
    assert stats["mouth_windows"], stats
    # The frames are the astronaut's, with a generated mouth inside the crop box only.
    x0, y0, x1, y1 = apps.pack.boxes[0]
    photo = apps.pack.frames[0].astype(np.int16)
    outside = np.ones(photo.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    diff = np.abs(video[len(video) // 2].astype(np.int16) - photo).mean(axis=2)
    assert diff[outside].mean() < 6, diff[outside].mean()
    assert diff[y0:y1, x0:x1].mean() > 2 * diff[outside].mean()


async def test_two_sessions_share_inference_batches(apps):
    handle = lipsync_handle()
    await fresh_stats(handle)
    async with ChatClient(apps.base) as a, ChatClient(apps.base) as b:
        await asyncio.gather(a.ask("Apples are red."), b.ask("Bananas are yellow."))
        ta, tb = await asyncio.gather(
            a.until("turn_end", TURN_TIMEOUT_S), b.until("turn_end", TURN_TIMEOUT_S)
        )
    va, vb = check_media(ta), check_media(tb)
    stats = await handle.stats.remote()
    assert frames_done(stats) == len(va) + len(vb)
    assert stats["mixed_batches"] >= 1, stats  # one inference call held frames of both sessions
    assert max(stats["requests_per_batch"]) >= 2


async def test_lipsync_takes_uint8_crops_and_returns_uint8_mouths(apps, random_wav2lip):
    from actors.engines.avatar.wav2lip_runner import (
        Wav2LipRunner,
        output_to_rgb,
        prepare_face_input,
    )

    crops = apps.pack.crops[np.zeros(5, int)]
    mel = np.random.default_rng(0).uniform(-4, 1, (5, 1, 80, 16)).astype(np.float32)
    mouths = await lipsync_handle().infer.remote(mel, crops, "direct")
    assert mouths.dtype == np.uint8 and mouths.shape == (5, 96, 96, 3)
    local = Wav2LipRunner(model_path=random_wav2lip, providers=["CPUExecutionProvider"])
    want = output_to_rgb(local.infer(mel, prepare_face_input(crops, crops)))
    assert np.abs(mouths.astype(int) - want).max() <= 1  # rounding of the last bit only
    assert np.abs(mouths[0].astype(int) - mouths[4]).max() > 0  # each frame its own audio
    with pytest.raises(ValueError, match="crops must be uint8"):
        await lipsync_handle().infer.remote(mel, crops.astype(np.float32), "direct")
    # Asked for a window, it is computed as before and the rest of the crop is left black.
    windowed = await lipsync_handle().infer.remote(mel, crops, "direct", "", (30, 96, 4, 90))
    assert np.abs(windowed[:, 30:, 4:90].astype(int) - want[:, 30:, 4:90]).max() <= 1
    assert not windowed[:, :30].any() and windowed[:, 30:, 4:90].any()
    with pytest.raises(ValueError, match="outside the 96x96 crop"):
        await lipsync_handle().infer.remote(mel, crops, "direct", "", (0, 97, 0, 96))


async def test_interrupt_cancels_the_queued_lipsync_work(apps):
    handle = lipsync_handle()
    long_text = " ".join(f"This is sentence number {i} of a long answer." for i in range(8))
    async with ChatClient(apps.base) as c:
        await c.ask(long_text)
        turn = Turn()
        while not any(r.is_media and r.header["kind"] == "fragment" for r in turn.items):
            turn.items.append(await c.recv(TURN_TIMEOUT_S))
        assert (await handle.stats.remote())["waiting_requests"] > 0  # sentences in flight
        await c.send({"type": "interrupt"})
        await c.until("interrupted")
        # The chunks still queued for inference are cancelled, not computed for nobody: the
        # queue empties at once (computing them would take minutes on this CPU).
        waiting = None
        for _ in range(40):
            waiting = (await handle.stats.remote())["waiting_requests"]
            if waiting == 0:
                break
            await asyncio.sleep(0.25)
        assert waiting == 0
        await c.drain(quiet_s=0.5)
        await c.ask("Ok.")  # the pool still serves the next turn
        check_media(await c.until("turn_end", TURN_TIMEOUT_S))


async def test_sessions_with_different_packs_share_lipsync_batches(apps, avatars):
    _, packs = avatars
    handle = lipsync_handle()
    await fresh_stats(handle)
    rng = np.random.default_rng(3)
    audio = TTSAudio(rng.normal(0, 4000, 16000 * 3 // 2).astype(np.int16), 16000, "test")

    async def stream(source: str, avatar: str) -> np.ndarray:
        talking = avatar_handle().options(stream=True).talking
        response = talking.remote(audio, 0, len(audio.pcm), source, avatar=avatar)
        return np.concatenate([chunk async for chunk in response])

    frames = dict(
        zip(
            packs,
            await asyncio.gather(*(stream(f"s-{name}", name) for name in packs)),
            strict=True,
        )
    )
    for name, other in (("astro", "mirror"), ("mirror", "astro")):
        got, own, theirs = frames[name], packs[name], packs[other]
        assert got.shape == (38, 512, 512, 3), got.shape  # 1.5 s at 25 fps
        outside = np.ones(got.shape[1:3], bool)
        for x0, y0, x1, y1 in (own.boxes[0], theirs.boxes[0]):
            outside[y0:y1, x0:x1] = False  # away from both mouths
        for frame in got[::9]:  # each its own face, outside the mouths exactly
            np.testing.assert_array_equal(frame[outside], own.frames[0][outside])
            diff = np.abs(frame[outside].astype(int) - theirs.frames[0][outside]).mean()
            assert diff > 10, (name, diff)
        x0, y0, x1, y1 = own.boxes[0]
        assert np.abs(got[19, y0:y1, x0:x1].astype(int) - own.frames[0][y0:y1, x0:x1]).max() > 0
    stats = await handle.stats.remote()
    assert frames_done(stats) == 2 * 38
    # One inference call held frames of both avatars: the pool is shared across packs.
    assert stats["mixed_avatar_batches"] >= 1, stats
    infos = await asyncio.gather(*(avatar_handle().info.remote(n) for n in packs))
    assert [(i.kind, i.name, i.width) for i in infos] == [
        ("wav2lip", "astro", 512),
        ("wav2lip", "mirror", 512),
    ]


def http_get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


async def test_catalog_and_thumbnails_of_every_avatar(apps):
    catalog = await avatar_handle().catalog.remote()
    assert [(e["name"], e["kind"], e["default"]) for e in catalog] == [
        ("sprite", "sprite", False),
        ("sprite:night", "sprite", False),
        ("astro", "wav2lip", True),
        ("mirror", "wav2lip", False),
    ]
    images = {}
    for entry in catalog:
        status, kind, body = await asyncio.to_thread(http_get, apps.base + entry["thumbnail"])
        assert (status, kind) == (200, "image/jpeg"), entry
        images[entry["name"]] = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert images[entry["name"]].shape == (128, 128, 3), entry
    small = cv2.resize(apps.pack.frames[0], (128, 128), interpolation=cv2.INTER_AREA)
    assert np.abs(images["astro"][:, :, ::-1].astype(int) - small).mean() < 8  # RGB, BGR
    assert np.abs(images["mirror"][:, ::-1].astype(int) - images["astro"]).mean() < 8
    for bad in ("nobody", "sprite:pink"):
        for what in ("thumbnail.jpg", "idle.mp4"):
            status, _, _ = await asyncio.to_thread(http_get, f"{apps.base}/avatars/{bad}/{what}")
            assert status == 404, (bad, what)
    # Each avatar's idle loop is its own: the first frame decodes to that avatar at rest.
    firsts = {}
    for name in ("astro", "mirror"):
        entry = next(e for e in catalog if e["name"] == name)
        status, kind, body = await asyncio.to_thread(http_get, apps.base + entry["idle"])
        assert (status, kind) == (200, "video/mp4"), entry
        with av.open(io.BytesIO(body)) as clip:
            firsts[name] = next(clip.decode(video=0)).to_ndarray(format="rgb24")
    assert np.abs(firsts["astro"].astype(int) - apps.pack.frames[0]).mean() < 8
    assert np.abs(firsts["mirror"][:, ::-1].astype(int) - firsts["astro"]).mean() < 8
    with pytest.raises(ValueError, match="unknown avatar 'nobody'"):
        await avatar_handle().info.remote("nobody")
