"""Sprites drawn in the session's own process: the cache, and turns that draw their frames
locally giving the very bytes of turns streamed from the Avatar deployment."""

from __future__ import annotations

import asyncio
import logging
import threading

import numpy as np
import pytest

from actors.core.messages import MediaChunk, Sentence, TTSAudio
from actors.engines.avatar.renderer_choice import sprite_recipe
from actors.engines.avatar.sprite import SpriteAvatar
from actors.engines.llm import EchoLLM
from actors.pipeline.conversation import Conversation
from actors.session.remote_stages import DeploymentStages
from actors.session.sprites import SpriteCache
from config import Settings
from serve_app.deployments.avatar import AvatarDeployment
from tests.fakes.fake_handles import FakeAvatarHandle, FakeTTSHandle

pytestmark = pytest.mark.unit

SETTINGS = Settings.load({"avatar": {"size": 256, "seed": 4}}, env={})
RECIPE = sprite_recipe(SETTINGS)
REPLY = "Hello there. This is a second sentence. And a third one, longer than the others."


def test_the_cache_builds_once_in_the_background_and_keeps_the_latest():
    cache = SpriteCache(capacity=2)
    assert cache.get(RECIPE) is None  # being built: the caller streams meanwhile
    sprite = cache.wait(RECIPE, timeout=60)
    assert isinstance(sprite, SpriteAvatar) and (sprite.width, sprite.seed) == (256, 4)
    assert cache.get(dict(reversed(RECIPE.items()))) is sprite  # the same recipe, any order
    night = {**RECIPE, "palette": "night"}
    other = {**RECIPE, "seed": 9}
    assert cache.wait(night, 60) is not None and cache.wait(other, 60) is not None
    assert cache.recipes == [night, other]  # the least recently used (default) was dropped
    with pytest.raises(ValueError, match="capacity"):
        SpriteCache(capacity=0)


def test_a_recipe_that_cannot_be_drawn_stays_remote(caplog):
    cache = SpriteCache()
    bad = {**RECIPE, "size": 301}
    with caplog.at_level(logging.WARNING, "avatar_chat.session"):
        assert cache.wait(bad, timeout=60) is None
    assert cache.get(bad) is None and cache.recipes == []
    assert "cannot draw sprite" in caplog.text


class SpeakingTTS(FakeTTSHandle):
    """Noise bursts of a length set by the text: the mouth opens and closes."""

    async def _speak(self, sentence: Sentence) -> TTSAudio:
        audio = await super()._speak(sentence)
        n = len(audio.pcm)
        rng = np.random.default_rng(n)
        gate = np.sin(np.arange(n) / self.sample_rate * 2 * np.pi * 2) > 0
        return TTSAudio((rng.standard_normal(n) * 8000 * gate).astype(np.int16), audio.sample_rate)


class _Stream:
    def __init__(self, generator) -> None:
        self._generator = generator

    def __aiter__(self):
        return self._generator

    def cancel(self) -> None:
        asyncio.ensure_future(self._generator.aclose())


class _Call:
    def __init__(self, fn) -> None:
        self._fn = fn

    def remote(self, *args, **kwargs):
        return self._fn(*args, **kwargs)


class DeploymentHandle(FakeAvatarHandle):
    """The real Avatar deployment class, in process, called the way its Serve handle is;
    ``recipes`` False answers no recipe, so every frame streams from it."""

    def __init__(self, *, recipes: bool) -> None:
        super().__init__(size=256)
        self.deployment = AvatarDeployment.func_or_class(SETTINGS.model_dump(mode="json"))
        self.talks = 0

        def talking(audio, *args, **kwargs):
            self.talks += 1
            return _Stream(self.deployment.talking(getattr(audio, "audio", audio), *args, **kwargs))

        async def no_recipe(**_):
            return None

        self.talking = _Call(talking)
        self.sprite_recipe = _Call(self.deployment.sprite_recipe if recipes else no_recipe)


async def _turn(handle: DeploymentHandle, sprites: SpriteCache) -> tuple[list[bytes], int]:
    info = await handle.deployment.info()
    stages = DeploymentStages(
        tts=SpeakingTTS(), avatar=handle, settings=SETTINGS, avatar_info=info, sprites=sprites
    )
    conv = Conversation(session_id="s", llm=EchoLLM(chars_per_s=100000), pipeline=stages.pipeline())
    conv.submit_text(REPLY)
    await asyncio.sleep(0)
    media = []
    while conv.busy or not conv.outbox.empty():
        item = await asyncio.wait_for(conv.outbox.get(), 60)
        if isinstance(item, MediaChunk):
            media.append(item.data)
    await conv.close()
    return media, stages.drawn_here


async def test_frames_drawn_here_are_the_bytes_the_avatar_replica_streams():
    sprites = SpriteCache()
    assert await asyncio.to_thread(sprites.wait, RECIPE, 60) is not None
    remote = DeploymentHandle(recipes=False)
    local = DeploymentHandle(recipes=True)
    streamed, none_here = await _turn(remote, sprites)
    drawn, all_here = await _turn(local, sprites)
    assert (remote.talks, none_here) == (3, 0)  # three sentences, each streamed
    assert (local.talks, all_here) == (0, 3)  # none streamed: each drawn in this process
    assert len(drawn) > 3 and drawn == streamed  # the same init segment and fragments


class GatedCache(SpriteCache):
    """Builds only once ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def _build(self, key: tuple) -> None:
        self.gate.wait(60)
        super()._build(key)


async def test_a_turn_streams_while_its_sprite_is_being_built():
    sprites = GatedCache()
    handle = DeploymentHandle(recipes=True)
    streamed, drawn_here = await _turn(handle, sprites)
    assert (handle.talks, drawn_here) == (3, 0)  # nothing waited for the build
    sprites.gate.set()
    assert await asyncio.to_thread(sprites.wait, RECIPE, 60) is not None
    drawn, drawn_here = await _turn(handle, sprites)
    assert (handle.talks, drawn_here) == (3, 3)  # the next turn draws here
    assert drawn == streamed


async def test_a_replica_without_an_answer_leaves_the_frames_remote(caplog):
    handle = FakeAvatarHandle(size=64)

    async def failing(**_):
        raise RuntimeError("replica gone")

    handle.sprite_recipe = _Call(failing)
    stages = DeploymentStages(
        tts=FakeTTSHandle(), avatar=handle, settings=SETTINGS, avatar_info=handle.info
    )
    conv = Conversation(session_id="s", llm=EchoLLM(chars_per_s=100000), pipeline=stages.pipeline())
    with caplog.at_level(logging.WARNING, "avatar_chat.session"):
        conv.submit_text("Hello there. How are you?")
        await asyncio.sleep(0)
        while conv.busy or not conv.outbox.empty():
            await asyncio.wait_for(conv.outbox.get(), 30)
    assert stages.drawn_here == 0 and len(handle.streams) == 2
    assert "sprite recipe unavailable" in caplog.text
    assert stages.turn_state == {"audio_refs": 0, "frame_streams": 0}
    await conv.close()
