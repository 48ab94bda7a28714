"""The Wav2Lip path on Serve: the batched ``LipSync`` model pool and the streaming Avatar stage.

``LipSync`` replicas hold the ONNX model; ``@serve.batch`` gathers frames from all sessions
into one inference call. Its ``max_batch_size`` counts FRAMES, not requests: a request
carries ``k`` frames (one chunk of one sentence, ``lipsync.chunk_frames``) and Serve's
``batch_size_fn`` sums them, so ``lipsync.max_batch_size`` means "frames per inference
call". A request larger than that is split before it is queued (Serve would refuse it).
Requests wait at a gate (``FrameGate``) while the model is busy and are let into the batch
queue together, one batch's worth at a time, when it is free: Serve closes a batch after
``batch_wait_timeout_s`` even while the previous call still runs, so without the gate the
frames arriving during a call would be cut into small batches, each of one session.

``Wav2LipAvatarDeployment`` (deployment name "Avatar", so serve_config.yaml's Avatar entry
applies to whichever avatar is configured) computes mel windows and face inputs, sends
each chunk to LipSync with a few chunks in flight, pastes the mouths back and streams
frame chunks out as they are done: the first frames leave before the sentence is finished.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
from ray import serve
from ray.serve import Application

from actors.avatar.lipsync import Wav2LipAvatar, make_runner, model_path, unavailable_reason
from actors.messages import TTSAudio, pad_to_frames
from config import AvatarSettings, LipSyncSettings, Settings
from serve_app.deployments import AvatarDeployment

log = logging.getLogger("avatar_chat.lipsync")


@dataclass(slots=True, eq=False)
class LipSyncRequest:
    """``k`` frames of one sentence; ``source`` names the session (for batch statistics)."""

    mel: np.ndarray
    faces: np.ndarray
    source: str = ""
    started: bool = False  # set when its inference call begins

    def __len__(self) -> int:
        return int(self.mel.shape[0])


def _frames_in(requests: list[LipSyncRequest]) -> int:
    return sum(len(r) for r in requests)


class FrameGate:
    """Lets requests into the batch queue only while the model is idle, one batch at a time.

    Waiting requests are released in arrival order, up to ``max_frames`` frames, when the
    running call finishes; so the next batch is made of what every session sent meanwhile.
    """

    def __init__(self, max_frames: int) -> None:
        self.max_frames = max_frames
        self.busy = False
        self.admitted = 0  # frames let in whose batch has not started yet
        self._waiting: deque[tuple[int, asyncio.Future]] = deque()

    async def admit(self, frames: int) -> None:
        if not self.busy and not self._waiting and self._fits(frames):
            self.admitted += frames
            return
        ticket = asyncio.get_running_loop().create_future()
        self._waiting.append((frames, ticket))
        try:
            await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():  # let in, then cancelled: give back
                self.give_back(frames)
            elif (frames, ticket) in self._waiting:
                self._waiting.remove((frames, ticket))
            raise

    @property
    def waiting(self) -> int:
        """Requests waiting to be let in."""
        return sum(not ticket.done() for _, ticket in self._waiting)

    def give_back(self, frames: int) -> None:
        """Frames let in that will not be queued after all."""
        self.admitted = max(0, self.admitted - frames)
        self._release()

    def started(self, frames: int) -> None:
        self.busy = True
        self.admitted = max(0, self.admitted - frames)

    def finished(self) -> None:
        self.busy = False
        self._release()

    def _fits(self, frames: int) -> bool:
        # A request larger than the batch (the limit shrank meanwhile) goes in alone.
        return self.admitted == 0 or self.admitted + frames <= self.max_frames

    def _release(self) -> None:
        while self._waiting and not self.busy:
            frames, ticket = self._waiting[0]
            if ticket.done():
                self._waiting.popleft()
            elif self._fits(frames):
                self._waiting.popleft()
                self.admitted += frames
                ticket.set_result(None)
            else:
                return


@serve.deployment(name="LipSync", ray_actor_options={"num_cpus": 1}, max_ongoing_requests=64)
class LipSync:
    """``mel [k,1,80,16] + faces [k,6,96,96] -> mouths [k,3,96,96]``, batched across sessions."""

    def __init__(self, settings: dict) -> None:
        s = Settings.model_validate(settings)
        self._base = s.lipsync
        self._runner = make_runner(s)
        self.model_path = model_path(s)
        self._frames_hist: Counter[int] = Counter()
        self._requests_hist: Counter[int] = Counter()
        self._mixed = 0
        self._busy_s = 0.0  # time spent in inference calls (utilisation)
        self._gate = FrameGate(s.lipsync.max_batch_size)
        self._configure(s.lipsync)
        log.info("LipSync: %s on %s", self.model_path.name, self._runner.providers)

    def _configure(self, ls: LipSyncSettings) -> None:
        self._max_frames = ls.max_batch_size
        self._gate.max_frames = ls.max_batch_size
        self._run_batch.set_max_batch_size(ls.max_batch_size)
        self._run_batch.set_batch_wait_timeout_s(ls.batch_wait_timeout_s)

    def reconfigure(self, user_config: dict) -> None:
        """Hot settings: ``max_batch_size`` (frames per call) and ``batch_wait_timeout_s``."""
        tuned = LipSyncSettings.model_validate({**self._base.model_dump(), **(user_config or {})})
        self._configure(tuned)

    async def infer(self, mel: np.ndarray, faces: np.ndarray, source: str = "") -> np.ndarray:
        """One session's ``k`` frames; they share inference calls with other sessions' frames."""
        mel = np.asarray(mel, np.float32)
        faces = np.asarray(faces, np.float32)
        # Checked here, per request: a bad request inside a batch would fail its neighbours.
        if mel.ndim != 4 or mel.shape[1:] != (1, 80, 16):
            raise ValueError(f"mel must be [k, 1, 80, 16], got {mel.shape}")
        if faces.shape != (len(mel), 6, 96, 96):
            raise ValueError(f"faces must be [{len(mel)}, 6, 96, 96], got {faces.shape}")
        if len(mel) == 0:
            return np.zeros((0, 3, 96, 96), np.float32)
        step = self._max_frames
        parts = [
            self._submit(LipSyncRequest(mel[i : i + step], faces[i : i + step], source))
            for i in range(0, len(mel), step)
        ]
        return np.concatenate(await asyncio.gather(*parts))

    async def _submit(self, request: LipSyncRequest) -> np.ndarray:
        await self._gate.admit(len(request))
        if len(request) > self._max_frames:  # max_batch_size shrank while it waited
            self._gate.give_back(len(request))
            return await self.infer(request.mel, request.faces, request.source)
        try:
            return await self._run_batch(request)
        finally:
            if not request.started:  # cancelled (or refused) before its batch ran
                self._gate.give_back(len(request))

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01, batch_size_fn=_frames_in)
    async def _run_batch(self, requests: list[LipSyncRequest]) -> list[np.ndarray]:
        mel = np.concatenate([r.mel for r in requests])
        faces = np.concatenate([r.faces for r in requests])
        for r in requests:
            r.started = True
        self._gate.started(len(mel))
        t = time.perf_counter()
        try:  # in a thread: the loop keeps taking requests meanwhile
            out = await asyncio.to_thread(self._runner.infer, mel, faces)
        finally:
            self._busy_s += time.perf_counter() - t
            self._gate.finished()
        self._frames_hist[len(mel)] += 1
        self._requests_hist[len(requests)] += 1
        self._mixed += len({r.source for r in requests}) > 1
        bounds = np.cumsum([len(r) for r in requests])[:-1]
        return np.split(out, bounds)

    def stats(self) -> dict:
        """Batches so far: frames and requests per call, mixed batches, time in inference."""
        return {
            "batches": sum(self._frames_hist.values()),
            "frames_per_batch": dict(self._frames_hist),
            "requests_per_batch": dict(self._requests_hist),
            "mixed_batches": self._mixed,
            "busy_s": self._busy_s,
            "waiting_requests": self._gate.waiting,
            "max_batch_size": self._max_frames,
            "providers": list(self._runner.providers),
            "parallel_runs": self._runner.parallel_runs,
        }

    def reset_stats(self) -> None:
        self._frames_hist.clear()
        self._requests_hist.clear()
        self._mixed = 0
        self._busy_s = 0.0

    async def ready(self) -> bool:
        return True


@serve.deployment(name="Avatar", ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=16)
class Wav2LipAvatarDeployment:
    """``TTSAudio -> frame chunks``, streamed: mel, faces and paste-back; inference in LipSync."""

    def __init__(self, settings: dict, lipsync) -> None:
        s = Settings.model_validate(settings)
        self._avatar = Wav2LipAvatar.load(s.avatars_dir, s.avatar.name, fps=s.avatar.fps)
        self._precision = s.lipsync.precision
        self._lipsync = lipsync
        self._chunk = s.lipsync.chunk_frames
        self._ahead = s.lipsync.chunks_in_flight

    def reconfigure(self, user_config: dict) -> None:
        # The Avatar entry of serve_config.yaml is shared with the sprite (mouth_smoothing):
        # validated, but nothing in it changes a Wav2Lip avatar.
        AvatarSettings.model_validate(user_config or {})

    def info(self) -> dict:
        a = self._avatar
        return {
            "kind": a.kind,
            "width": a.width,
            "height": a.height,
            "fps": a.fps,
            "note": a.note,
            "streaming": True,
            "name": a.pack.name,
            "precision": self._precision,
        }

    async def idle(self, n_frames: int, first_frame: int = 0) -> np.ndarray:
        return self._avatar.idle(n_frames, first_frame=first_frame)  # a cheap array slice

    async def talking(
        self, audio: TTSAudio, first_frame: int, n_samples: int, source: str = ""
    ) -> AsyncIterator[np.ndarray]:
        """Frames of ``audio`` padded to ``n_samples``, in chunks of ``chunk_frames``, in order."""
        pcm = audio.pcm
        if len(pcm) < n_samples:
            pcm = np.concatenate([pcm, np.zeros(n_samples - len(pcm), pcm.dtype)])
        pcm = pad_to_frames(pcm, audio.sample_rate, self._avatar.fps)
        mel = await asyncio.to_thread(self._avatar.mel_inputs, pcm, audio.sample_rate)
        pending: deque[asyncio.Task] = deque()
        try:
            for start in range(0, len(mel), self._chunk):
                part = mel[start : start + self._chunk]
                pending.append(
                    asyncio.create_task(self._chunk_frames(part, first_frame + start, source))
                )
                if len(pending) >= self._ahead:
                    yield await pending.popleft()
            while pending:
                yield await pending.popleft()
        finally:  # the consumer left (barge-in): drop the chunks still being made
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _chunk_frames(self, mel: np.ndarray, first: int, source: str) -> np.ndarray:
        faces = await asyncio.to_thread(self._avatar.face_inputs, first, len(mel))
        response = self._lipsync.infer.remote(mel, faces, source)
        try:
            mouths = await response
        except asyncio.CancelledError:  # awaiting a response does not cancel it by itself
            response.cancel()
            raise
        return await asyncio.to_thread(self._avatar.compose, mouths, first)

    async def ready(self) -> bool:
        return True


def avatar_deployment(settings: Settings) -> Application:
    """The bound Avatar stage: Wav2Lip (+ LipSync) when configured and available, else sprite.

    The sprite's ``info()["note"]`` then says why (``actors.local.make_sprite`` sets it).
    """
    data = settings.model_dump(mode="json", exclude={"llm": {"api_key"}})
    if settings.avatar.kind == "wav2lip":
        reason = unavailable_reason(settings)
        if reason is None:
            return Wav2LipAvatarDeployment.bind(data, LipSync.bind(data))
        log.warning("%s", reason)
    return AvatarDeployment.bind(data)
