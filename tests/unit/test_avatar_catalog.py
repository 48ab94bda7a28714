"""Avatars by name: the catalog (names, default, LRU under a byte budget, thumbnails) and the
Avatar deployment's methods, called on the class itself with a stand-in LipSync pool (no Ray)."""

from __future__ import annotations

import asyncio

import cv2
import numpy as np
import pytest

from actors.core.messages import TTSAudio, pad_to_frames
from actors.core.pixels import rgb_to_yuv420p
from actors.engines.avatar.catalog import AvatarCatalog, jpeg_thumbnail
from actors.engines.avatar.pack import PACK_VERSION, AvatarPack
from actors.engines.avatar.pasteback import feather_mask
from actors.engines.avatar.renderer_choice import make_sprite
from actors.engines.avatar.sprite_face import PALETTES
from config import Settings
from serve_app.deployments.avatar import AvatarDeployment

pytestmark = pytest.mark.unit

Deployment = AvatarDeployment.func_or_class  # the plain class under Serve's decorator


def flat_pack(name: str, grey: int, *, n: int = 2, side: int = 256) -> AvatarPack:
    """``n`` flat frames of one grey, with a crop box in the middle."""
    frames = np.full((n, side, side, 3), grey, np.uint8)
    boxes = np.tile(np.array([[64, 64, 192, 192]], np.int32), (n, 1))
    crops = np.full((n, 96, 96, 3), grey, np.uint8)
    meta = {"version": PACK_VERSION, "fps": 25.0, "size": [side, side]}
    return AvatarPack(name, frames, boxes, crops, feather_mask(), meta)


@pytest.fixture
def avatars(tmp_path):
    """An avatars dir with packs 'dark' (grey 40) and 'light' (grey 200), 0.46 MiB each."""
    for name, grey in (("dark", 40), ("light", 200)):
        flat_pack(name, grey).save(tmp_path)
    return tmp_path


def settings(avatars=None, **avatar) -> Settings:
    data: dict = {"avatar": {"size": 256, **avatar}}
    if avatars is not None:
        data["avatars_dir"] = str(avatars)
    return Settings.load(data, env={})


def speech(frames: int, rate: int = 16000) -> TTSAudio:
    t = np.arange(frames * rate // 25) / rate
    pcm = (np.sin(2 * np.pi * 200 * t) * np.sin(2 * np.pi * 2 * t) * 9000).astype(np.int16)
    return TTSAudio(pcm, rate, "test")


def test_the_default_is_the_configured_sprite_exactly():
    for palette in PALETTES:
        s = settings(palette=palette)
        catalog = AvatarCatalog(s, packs=False)
        assert catalog.default == ("sprite" if palette == "default" else f"sprite:{palette}")
        got, want = catalog.get(None), make_sprite(s)
        assert catalog.info(catalog.default, got) == want.info()
        np.testing.assert_array_equal(got.idle(30, first_frame=7), want.idle(30, first_frame=7))
        assert catalog.get(catalog.default) is got  # the same cached renderer


def test_sprite_names_resolve_and_unknown_names_are_refused(avatars):
    catalog = AvatarCatalog(settings(avatars), packs=False)
    assert catalog.names() == ["sprite", "sprite:night"]  # packs only where LipSync runs
    assert catalog.resolve("sprite:default") == "sprite"
    assert catalog.resolve("sprite:night") == "sprite:night"
    for bad in ("dark", "sprite:", "sprite:pink", "nobody", "../dark", 3):
        with pytest.raises(ValueError, match="avatar"):
            catalog.resolve(bad)
    with pytest.raises(ValueError, match="choose one of sprite, sprite:night"):
        catalog.get("nobody")
    night = catalog.get("sprite:night")
    assert not np.array_equal(night.idle(1), catalog.get("sprite").idle(1))


def test_packs_are_listed_with_sizes_and_thumbnail_urls(avatars):
    catalog = AvatarCatalog(settings(avatars, kind="wav2lip", name="light"), packs=True)
    (avatars / "sprite").mkdir()  # a pack named like the sprite is hidden by it
    (avatars / "sprite" / "meta.json").write_text("{}")
    (avatars / "old").mkdir()  # another pack version: not offered
    (avatars / "old" / "meta.json").write_text('{"version": 0, "size": [8, 8]}')
    assert catalog.entries() == [
        {"name": "sprite", "kind": "sprite", "width": 256, "height": 256,
         "thumbnail": "/avatars/sprite/thumbnail.jpg",
         "idle": "/avatars/sprite/idle.mp4", "default": False},
        {"name": "sprite:night", "kind": "sprite", "width": 256, "height": 256,
         "thumbnail": "/avatars/sprite:night/thumbnail.jpg",
         "idle": "/avatars/sprite:night/idle.mp4", "default": False},
        {"name": "dark", "kind": "wav2lip", "width": 256, "height": 256,
         "thumbnail": "/avatars/dark/thumbnail.jpg",
         "idle": "/avatars/dark/idle.mp4", "default": False},
        {"name": "light", "kind": "wav2lip", "width": 256, "height": 256,
         "thumbnail": "/avatars/light/thumbnail.jpg",
         "idle": "/avatars/light/idle.mp4", "default": True},
    ]  # fmt: skip
    info = catalog.info("light", catalog.get(None))
    assert (info.kind, info.name, info.precision, info.note) == ("wav2lip", "light", "fp32", "")
    assert catalog.get("dark").idle(1)[0, 0, 0].tolist() == [40, 40, 40]


def test_a_pack_that_cannot_be_shown_leaves_the_sprite_with_a_note(avatars, wav2lip_models_dir):
    missing = AvatarCatalog(settings(avatars, kind="wav2lip", name="nope"), packs=True)
    assert missing.default == "sprite"
    assert "avatar-chat avatar prepare" in missing.info("sprite", missing.get(None)).note
    assert missing.info("sprite", missing.get("sprite")).note  # the default, however named
    assert missing.resolve("dark") == "dark"  # the other packs are still offered
    no_weights = AvatarCatalog(settings(avatars, kind="wav2lip", name="dark"), packs=False)
    assert no_weights.default == "sprite"
    assert "avatar-chat models fetch wav2lip" in no_weights.default_note
    assert no_weights.info("sprite:night", no_weights.get("sprite:night")).note == ""
    s = settings(avatars, kind="wav2lip", name="dark")
    no_pool = AvatarCatalog(s.model_copy(update={"models_dir": wav2lip_models_dir}), packs=False)
    assert no_pool.default == "sprite" and "LipSync pool is not running" in no_pool.default_note


def test_least_recently_used_avatars_leave_past_the_byte_budget(avatars):
    flat_pack("third", 120).save(avatars)
    catalog = AvatarCatalog(settings(avatars, kind="wav2lip", max_loaded_mib=1), packs=True)
    pack_bytes = catalog.get("dark").nbytes
    # frames, crops, the float32 mask and the boxes: two such packs fit in 1 MiB, three do not
    assert pack_bytes == 2 * 256 * 256 * 3 + 2 * 96 * 96 * 3 + 96 * 96 * 4 + 2 * 4 * 4
    catalog.get("light")
    assert list(catalog.loaded) == ["dark", "light"]
    catalog.get("dark")  # used again: now the most recent
    catalog.get("third")  # three do not fit in 1 MiB: the least recently used leaves
    assert list(catalog.loaded) == ["dark", "third"]
    assert catalog.loaded_bytes <= 2**20
    catalog.get("sprite")  # 2.4 MB alone: over the budget, yet the newest always stays
    assert list(catalog.loaded) == ["sprite"]


def test_thumbnails_are_small_jpegs_of_the_first_idle_frame(avatars):
    catalog = AvatarCatalog(settings(avatars), packs=True)
    for name in ("sprite", "sprite:night", "light"):
        image = cv2.imdecode(np.frombuffer(catalog.thumbnail(name), np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (128, 128, 3), name
    assert catalog.loaded == {}  # a thumbnail loads nothing into the cache
    light = cv2.imdecode(np.frombuffer(catalog.thumbnail("light"), np.uint8), cv2.IMREAD_COLOR)
    assert abs(float(light.mean()) - 200) < 2
    wide = np.zeros((100, 300, 3), np.uint8)
    assert cv2.imdecode(np.frombuffer(jpeg_thumbnail(wide), np.uint8), 1).shape == (43, 128, 3)


class FakeLipSync:
    """A stand-in for the LipSync handle: each frame's 'mouth' is its own face crop."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, int]] = []  # (source, avatar, frames)
        self.infer = self

    def remote(self, mel, crops, source, avatar, window=None):
        self.requests.append((source, avatar, len(mel)))
        return _Done(np.asarray(crops))


class _Done:
    def __init__(self, value) -> None:
        self.value = value

    def __await__(self):
        yield from asyncio.sleep(0).__await__()
        return self.value

    def cancel(self) -> None:
        pass


def deployment(avatars, lipsync=None, **avatar) -> Deployment:
    return Deployment(settings(avatars, **avatar).model_dump(mode="json"), lipsync)


async def collect(stream) -> np.ndarray:
    return np.concatenate([chunk async for chunk in stream])


async def test_the_deployment_serves_the_default_sprite_as_before(avatars):
    d = deployment(avatars)
    sprite = make_sprite(settings(avatars))
    assert await d.info() == sprite.info()
    audio = speech(30)
    frames = await collect(d.talking(audio, 0, len(audio.pcm) + 100))
    pcm = pad_to_frames(audio.pcm, 16000, 25, min_samples=len(audio.pcm) + 100)
    np.testing.assert_array_equal(frames, sprite.talking(pcm, 16000))
    # What sessions ask for: the same frames in I420; an unknown format is refused at once.
    yuv = await collect(d.talking(audio, 0, len(audio.pcm) + 100, pix_fmt="yuv420p"))
    np.testing.assert_array_equal(yuv, rgb_to_yuv420p(frames))
    with pytest.raises(ValueError, match="pix_fmt"):
        await collect(d.talking(audio, 0, len(audio.pcm), pix_fmt="bgr24"))
    np.testing.assert_array_equal(await d.idle(4, 2), sprite.idle(4, first_frame=2))
    assert [e["name"] for e in await d.catalog()] == ["sprite", "sprite:night"]
    with pytest.raises(ValueError, match="unknown avatar"):
        await d.info("dark")  # no LipSync pool: no packs
    with pytest.raises(ValueError, match="unknown avatar"):
        await collect(d.talking(audio, 0, len(audio.pcm), avatar="nobody"))
    night = await d.idle(1, avatar="sprite:night")
    assert not np.array_equal(night, await d.idle(1))


async def test_streams_of_different_packs_each_get_their_own_face(avatars):
    lipsync = FakeLipSync()
    d = deployment(avatars, lipsync, kind="wav2lip", name="dark")
    assert (await d.info()).name == "dark"
    assert (await d.info("light")).name == "light"
    audio = speech(20)
    dark, light, sprite = await asyncio.gather(
        collect(d.talking(audio, 0, len(audio.pcm), "s1")),
        collect(d.talking(audio, 0, len(audio.pcm), "s2", avatar="light")),
        collect(d.talking(audio, 0, len(audio.pcm), "s3", avatar="sprite")),
    )
    assert dark.shape == light.shape == (20, 256, 256, 3) and sprite.shape == (20, 256, 256, 3)
    assert np.all(dark == 40) and np.all(light == 200)  # a flat crop pasted into a flat face
    assert {(s, a) for s, a, _ in lipsync.requests} == {("s1", "dark"), ("s2", "light")}
    assert sum(n for *_, n in lipsync.requests) == 40  # the sprite needs no LipSync
    assert list(d.loaded()) == ["dark", "light", "sprite"]
    light_jpeg = await d.thumbnail("light")
    assert light_jpeg[:2] == b"\xff\xd8" and await d.thumbnail("light") is light_jpeg
    with pytest.raises(ValueError, match="unknown avatar"):
        await d.thumbnail("nobody")


async def test_reconfigure_redraws_the_sprites_and_keeps_the_packs(avatars):
    d = deployment(avatars, FakeLipSync(), kind="wav2lip", name="dark")
    await d.info("sprite")
    d.reconfigure({"mouth_smoothing": 0.9})
    assert list(d.loaded()) == ["dark"]  # the sprite is drawn again when next used
    sprite = deployment(avatars)
    sprite.reconfigure({"mouth_smoothing": 0.9})
    assert list(sprite.loaded()) == ["sprite"]  # the default, drawn again at once
    with pytest.raises(ValueError, match="mouth_smoothing"):
        d.reconfigure({"mouth_smoothing": 2})


async def test_the_drawing_tag_follows_the_settings_and_replicas_agree(avatars):
    one, two = deployment(avatars), deployment(avatars)
    assert await one.drawing() == await two.drawing()  # same settings, same tag
    before = await one.drawing()
    one.reconfigure({"mouth_smoothing": 0.9})
    assert await one.drawing() != before
    two.reconfigure({"mouth_smoothing": 0.9})
    assert await one.drawing() == await two.drawing()
    one.reconfigure({})  # nothing to change: the same drawing
    assert await one.drawing() == await two.drawing()
