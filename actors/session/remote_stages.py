"""Turn stages backed by Serve deployment handles, for a Session.

Speech and frames come from the pooled TTS and Avatar deployments; audio travels between
them as a Ray object ref, and frame chunks stream back to the session's encoder. A sprite's
frames are drawn here instead, from the recipe the Avatar replica gives (``sprites``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

import ray

from actors.core.messages import Sentence, TTSAudio
from actors.engines.avatar.base import AvatarInfo
from actors.media.encoder import FragmentedMP4Encoder
from actors.pipeline.builders import make_encoder, make_splitter
from actors.pipeline.choices import SessionChoices
from actors.pipeline.frame_chunks import rendered_chunks
from actors.pipeline.splitter import SentenceSplitter
from actors.pipeline.turn import TurnPipeline
from actors.session.sprites import SPRITES, SpriteCache
from config import Settings

log = logging.getLogger("avatar_chat.session")


class DeploymentStages:
    """Turn stages backed by Serve deployment handles; audio travels as object refs.

    ``choices()`` gives the session's choices; they are read once as each turn starts
    (``begin_turn``): the language and voice its sentences carry, and the avatar that
    animates it, whose ``info()`` sizes the turn's encoder. The server's avatar (no choice)
    is ``avatar_info``; a chosen one is named in the Avatar calls (``avatar=``), which are
    made without it otherwise.

    A turn whose avatar is a sprite asks the Avatar replica for its recipe as it starts,
    without waiting for it; once the recipe is there and ``sprites`` has the sprite, the
    turn's frames are drawn in this process (until then they stream from the replica).
    """

    def __init__(
        self,
        *,
        tts,
        avatar,
        settings: Settings,
        avatar_info: AvatarInfo,
        session_id: str = "",
        choices: Callable[[], SessionChoices] | None = None,
        sprites: SpriteCache = SPRITES,
    ) -> None:
        self._tts, self._avatar, self._settings, self._info = tts, avatar, settings, avatar_info
        self._session_id = session_id
        self._choices = choices or SessionChoices
        self._sprites = sprites
        self._turn = _TurnChoices(SessionChoices(), avatar_info, None)
        self.drawn_here = 0  # sentences whose frames this process drew (the rest streamed)
        self._tts_timed_out = False  # in the running turn
        self._audio_refs: dict[int, ray.ObjectRef] = {}
        self._streams: weakref.WeakSet[_FrameStream] = weakref.WeakSet()

    async def begin_turn(self) -> None:
        """Take the session's choices for the turn that starts now."""
        choices = self._choices()
        info = self._info
        if choices.avatar is not None:
            try:
                call = self._avatar.info.remote(avatar=choices.avatar)
                info = await asyncio.wait_for(call, self._settings.server.session_start_timeout_s)
            except Exception as exc:  # gone from the catalog since it was chosen, or stuck
                log.warning(
                    "session=%s avatar %r unavailable (%s); this turn shows the default",
                    self._session_id,
                    choices.avatar,
                    exc,
                )
                choices = replace(choices, avatar=None)
        self._tts_timed_out = False
        recipe = None
        if info.kind == "sprite":
            recipe = asyncio.ensure_future(self._sprite_recipe(choices.avatar))
        self._turn = _TurnChoices(choices, info, recipe)

    async def _sprite_recipe(self, avatar: str | None) -> dict | None:
        named = {} if avatar is None else {"avatar": avatar}
        try:
            call = self._avatar.sprite_recipe.remote(**named)
            return await asyncio.wait_for(call, self._settings.server.session_start_timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the replica draws this turn's frames, as before
            log.warning("session=%s sprite recipe unavailable (%s)", self._session_id, exc)
            return None

    def _local_sprite(self):
        """The turn's sprite, when it can be drawn here now; else None."""
        recipe = self._turn.recipe
        if recipe is None or not recipe.done() or recipe.cancelled():
            return None
        return None if recipe.result() is None else self._sprites.get(recipe.result())

    async def speak(self, sentence: Sentence) -> TTSAudio:
        if self._tts_timed_out:  # not answering this turn: later sentences are not sent to wait
            raise TimeoutError("the TTS deployment gave no speech earlier in this turn")
        response = self._tts.synthesize.remote(sentence)

        async def answer() -> TTSAudio:
            ref = await response._to_object_ref()
            self._audio_refs[id(sentence)] = ref
            return await ref

        timeout = self._settings.server.stage_timeout_s
        try:
            return await asyncio.wait_for(answer(), timeout)
        except TimeoutError:
            response.cancel()
            self._tts_timed_out = True
            raise TimeoutError(f"the TTS deployment gave no speech in {timeout:g} s") from None

    async def animate(self, audio: TTSAudio, first_frame: int):
        # The replica gets the TTS result by reference: no second upload of the samples.
        ref = self._audio_refs.pop(id(audio.sentence), None)
        sprite = self._local_sprite()
        if sprite is not None:
            self.drawn_here += 1
            return rendered_chunks(sprite, audio, first_frame, len(audio.pcm), pix_fmt="yuv420p")
        # Both Avatar deployments stream frame chunks, encoded as they arrive, in I420: half
        # the bytes of RGB through the object store, and nothing left for the encoder to
        # convert. The avatar is named only when one was chosen.
        chosen = self._turn.choices.avatar
        named = {} if chosen is None else {"avatar": chosen}
        stream = self._avatar.options(stream=True).talking.remote(
            ref or audio, first_frame, len(audio.pcm), self._session_id, **named,
            pix_fmt="yuv420p",
        )  # fmt: skip
        frames = _FrameStream(stream, timeout_s=self._settings.server.stage_timeout_s)
        self._streams.add(frames)
        return frames

    def encoder(self) -> FragmentedMP4Encoder:
        i = self._turn.info
        return make_encoder(self._settings, width=i.width, height=i.height, fps=i.fps)

    def splitter(self) -> SentenceSplitter:
        c = self._turn.choices
        return make_splitter(self._settings, language=c.language, voices=c.voices())

    def close_streams(self) -> None:
        """End of a turn, however it ended: cancel the frame streams not read to the end and
        drop the TTS results not animated (a session runs one turn at a time)."""
        for frames in list(self._streams):
            frames.close()
        self._streams.clear()
        self._audio_refs.clear()
        if self._turn.recipe is not None:
            self._turn.recipe.cancel()  # a no-op once it is there

    @property
    def turn_state(self) -> dict[str, int]:
        """What is held for the running turn (both 0 between turns): for leak checks."""
        return {"audio_refs": len(self._audio_refs), "frame_streams": len(self._streams)}

    def pipeline(self) -> TurnPipeline:
        return _StreamClosingPipeline(
            on_start=self.begin_turn,
            on_end=self.close_streams,
            speak=self.speak,
            animate=self.animate,
            encoder_factory=self.encoder,
            splitter_factory=self.splitter,
            fps=self._info.fps,
            depth=self._settings.server.pipeline_depth,
            max_lead_s=self._settings.server.max_lead_s,
        )


class _TurnChoices(NamedTuple):
    """What one turn was started with: the session's choices, its avatar's info, and the
    sprite recipe being asked for (None: not a sprite)."""

    choices: SessionChoices
    info: AvatarInfo
    recipe: asyncio.Future | None


class _StreamClosingPipeline(TurnPipeline):
    """A TurnPipeline that takes the session's choices as a turn starts (``on_start``) and
    cancels its turn's unread frame streams when the turn ends (``on_end``).

    A cancelled turn leaves the streams of sentences animated ahead unread; without this
    the Avatar and LipSync replicas would go on making their frames for nobody.
    """

    def __init__(self, *, on_start, on_end, **options) -> None:
        super().__init__(**options)
        self._on_start = on_start
        self._on_end = on_end

    async def run(self, deltas, *, turn_id: str = ""):
        await self._on_start()
        try:
            async for event in super().run(deltas, turn_id=turn_id):
                yield event
        finally:
            self._on_end()


class _FrameStream:
    """A sentence's frame chunks streamed from the Avatar replica, each within ``timeout_s``.

    Leaving the loop early, ``close()``, or dropping the stream unread cancels the
    replica's remaining work for that sentence.
    """

    def __init__(self, response, *, timeout_s: float) -> None:
        self._response = response
        self._timeout_s = timeout_s
        self._finished = False

    def __aiter__(self):
        return self._chunks()

    async def _chunks(self):
        chunks = aiter(self._response)
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(anext(chunks), self._timeout_s)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    t = self._timeout_s
                    raise TimeoutError(f"the Avatar deployment sent no frames in {t:g} s") from None
                yield chunk
            self._finished = True
        finally:
            self.close()

    def close(self) -> None:
        if not self._finished:
            self._finished = True
            try:
                self._response.cancel()
            except Exception:  # best effort: the request may be gone already
                log.debug("cancelling a frame stream failed", exc_info=True)

    def __del__(self) -> None:
        self.close()


__all__ = ["DeploymentStages"]
