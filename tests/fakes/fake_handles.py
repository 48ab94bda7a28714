"""Stand-ins for the Serve deployment handles a SessionActor's stages call (fault injection).

They mimic exactly the handle calls ``actors/deployment_stages.py`` makes:
``tts.synthesize.remote(sentence)._to_object_ref()`` and
``avatar.options(stream=True).talking.remote(audio_or_ref, first_frame, n_samples, session,
pix_fmt=...)``;
``FakeLipSyncHandle`` stands in for the LipSync pool the Avatar deployment calls
(``lipsync.infer.remote(mel, crops, source, avatar)``), with a real model in-process.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from actors.core.messages import Sentence, TTSAudio
from actors.core.pixels import frame_shape
from actors.engines.avatar.base import AvatarInfo


class _Ref:
    def __init__(self, audio: TTSAudio) -> None:
        self.audio = audio

    def __await__(self):
        return asyncio.sleep(0, self.audio).__await__()


class _Call:
    def __init__(self, make) -> None:
        self._make = make
        self.cancelled = False

    async def _to_object_ref(self) -> _Ref:
        return _Ref(await self._make())

    def cancel(self) -> None:
        self.cancelled = True


class _Method:
    def __init__(self, fn) -> None:
        self._fn = fn

    def remote(self, *args, **kwargs):
        return self._fn(*args, **kwargs)


class FakeTTSHandle:
    """``synthesize.remote(sentence)``: silence of ``seconds_per_char`` per character, after
    ``delay_s``; ``responses`` lists each call's response (``cancelled`` once cancelled)."""

    def __init__(
        self, *, sample_rate: int = 24000, seconds_per_char: float = 0.02, delay_s: float = 0.0
    ) -> None:
        self.sample_rate, self.seconds_per_char = sample_rate, seconds_per_char
        self.delay_s = delay_s
        self.responses: list[_Call] = []
        self.synthesize = _Method(self._call)
        self.calls = 0

    def _call(self, sentence: Sentence) -> _Call:
        self.responses.append(_Call(lambda: self._speak(sentence)))
        return self.responses[-1]

    async def _speak(self, sentence: Sentence) -> TTSAudio:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        n = max(1, int(len(sentence.text) * self.seconds_per_char * self.sample_rate))
        return TTSAudio(np.zeros(n, np.int16), self.sample_rate, "fake", sentence)


class FakeFrameStream:
    def __init__(
        self, n_frames: int, size: int, *, chunk: int, delay_s: float, pix_fmt: str = "rgb24"
    ) -> None:
        self._left, self._chunk, self._delay_s = n_frames, chunk, delay_s
        self._shape = frame_shape(pix_fmt, size, size)
        self.cancelled = False

    def __aiter__(self):
        return self

    async def __anext__(self) -> np.ndarray:
        if self._left <= 0 or self.cancelled:
            raise StopAsyncIteration
        await asyncio.sleep(self._delay_s)
        n = min(self._chunk, self._left)
        self._left -= n
        return np.zeros((n, *self._shape), np.uint8)

    def cancel(self) -> None:
        self.cancelled = True


class FakeAvatarHandle:
    """``options(stream=True).talking.remote(...)``: grey frames in chunks, ``delay_s`` each;
    ``sprite_recipe.remote()`` answers ``recipe``."""

    def __init__(
        self,
        *,
        size: int = 64,
        fps: int = 25,
        chunk: int = 5,
        delay_s: float = 0.01,
        recipe: dict | None = None,
    ):
        self.size, self.fps, self.chunk, self.delay_s = size, fps, chunk, delay_s
        self.streams: list[FakeFrameStream] = []
        self.pix_fmts: list[str] = []  # what each talking call asked for
        self.talking = _Method(self._talking)
        self.recipe = recipe  # what sprite_recipe answers (None: the frames stream from here)
        self.recipe_calls = 0
        self.sprite_recipe = _Method(self._sprite_recipe)

    async def _sprite_recipe(self, avatar: str | None = None) -> dict | None:
        self.recipe_calls += 1
        await asyncio.sleep(0)
        return self.recipe

    def options(self, **_):
        return self

    def _talking(
        self, audio, first_frame: int, n_samples: int, session_id: str, *, pix_fmt="rgb24"
    ):
        audio = getattr(audio, "audio", audio)
        n_frames = n_samples * self.fps // audio.sample_rate
        stream = FakeFrameStream(
            n_frames, self.size, chunk=self.chunk, delay_s=self.delay_s, pix_fmt=pix_fmt
        )
        self.pix_fmts.append(pix_fmt)
        self.streams.append(stream)
        return stream

    @property
    def info(self) -> AvatarInfo:
        return AvatarInfo("sprite", self.size, self.size, self.fps)


class FakeLipSyncHandle:
    """``infer.remote(mel, crops, source, avatar, window)`` -> an awaitable (and cancellable)
    Task of the mouths, made by ``runner`` (a real ``Wav2LipRunner``) in a worker thread, one
    call at a time as the pool's gate runs them. ``requests`` lists the frames of each call, in
    order, and ``windows`` their mouth windows; ``most_outstanding`` is the most calls made and
    not yet finished at any one time."""

    def __init__(self, runner) -> None:
        self.runner = runner
        self.requests: list[int] = []
        self.windows: list = []
        self.outstanding = self.most_outstanding = 0
        self.infer = _Method(self._infer)
        self._lock = threading.Lock()

    @property
    def frames(self) -> int:
        """Frames sent to the model so far."""
        return sum(self.requests)

    def _infer(self, mel, crops, source: str = "", avatar: str = "", window=None) -> asyncio.Task:
        self.outstanding += 1
        self.most_outstanding = max(self.most_outstanding, self.outstanding)
        self.windows.append(window)
        task = asyncio.ensure_future(asyncio.to_thread(self._run, mel, crops, window))
        task.add_done_callback(self._finished)
        return task

    def _finished(self, _task) -> None:
        self.outstanding -= 1

    def _run(self, mel: np.ndarray, crops: np.ndarray, window) -> np.ndarray:
        from actors.engines.avatar.wav2lip_runner import infer_mouths

        with self._lock:
            self.requests.append(len(mel))
            mel = np.asarray(mel, np.float32)
            return infer_mouths(self.runner, mel, np.asarray(crops), window)


class InProcessHandle:
    """``handle.method.remote(*args)`` on a plain object (e.g. a deployment class built
    in-process): each call runs as a task and is awaited as Serve's responses are."""

    def __init__(self, target) -> None:
        self._target = target

    def __getattr__(self, name: str) -> _Method:
        method = getattr(self._target, name)

        async def call(*args):
            result = method(*args)
            return await result if asyncio.iscoroutine(result) else result

        return _Method(lambda *args: asyncio.ensure_future(call(*args)))
