"""The batched ``LipSync`` model pool: Wav2Lip inference for the frames of all sessions.

Replicas hold the ONNX model; ``@serve.batch`` gathers frames from all sessions into one
inference call. Its ``max_batch_size`` counts FRAMES, not requests: a request carries ``k``
frames (one chunk of one sentence, ``lipsync.chunk_frames``) and Serve's ``batch_size_fn``
sums them, so ``lipsync.max_batch_size`` means "frames per inference call". A request
larger than that is split before it is queued (Serve would refuse it). Requests wait at a
``FrameGate`` while the model is busy, so each batch is made of what every session sent
meanwhile. Nothing here depends on the avatar (each frame brings its own face crop), so the
frames of sessions showing different avatars share batches too. The Avatar stage in front of
it is ``serve_app.deployments.avatar`` (``avatar_frames.wav2lip_frames``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
from ray import serve

from actors.engines.avatar.mouth_windows import checked_window
from actors.engines.avatar.wav2lip import make_runner, model_path
from actors.engines.avatar.wav2lip_runner import infer_mouths
from config import LipSyncSettings, Settings
from serve_app.frame_gate import FrameGate

log = logging.getLogger("avatar_chat.lipsync")


@dataclass(slots=True, eq=False)
class LipSyncRequest:
    """``k`` frames of one sentence; ``source`` and ``avatar`` name the session and the avatar
    (for batch statistics only)."""

    mel: np.ndarray
    crops: np.ndarray
    source: str = ""
    avatar: str = ""
    window: tuple[int, int, int, int] | None = None  # the part of the mouths that is used
    started: bool = False  # set when its inference call begins

    def __len__(self) -> int:
        return int(self.mel.shape[0])


def _frames_in(requests: list[LipSyncRequest]) -> int:
    return sum(len(r) for r in requests)


def _batch_window(requests: list[LipSyncRequest]) -> tuple[int, int, int, int] | None:
    """The smallest window holding every request's; None (the whole) if one has none."""
    if any(r.window is None for r in requests):
        return None
    ws = np.array([r.window for r in requests])
    return int(ws[:, 0].min()), int(ws[:, 1].max()), int(ws[:, 2].min()), int(ws[:, 3].max())


# num_cpus is a scheduling reservation, not a limit (the replica runs parallel_runs threads):
# 0.5 lets the whole app place on 2 cores, whichever config file builds it.
@serve.deployment(name="LipSync", ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=64)
class LipSyncPool:
    """``mel [k,1,80,16] + face crops [k,96,96,3] -> mouths [k,96,96,3]``, across sessions."""

    def __init__(self, settings: dict) -> None:
        s = Settings.model_validate(settings)
        self._base = s.lipsync
        self._runner = make_runner(s)
        self.model_path = model_path(s)
        self._frames_hist: Counter[int] = Counter()
        self._requests_hist: Counter[int] = Counter()
        self._mixed = 0
        self._mixed_avatars = 0
        self._busy_s = 0.0  # time spent in inference calls (utilisation)
        self._gate = FrameGate(s.lipsync.max_batch_size)
        self._configure(s.lipsync)
        log.info(
            "LipSync: %s on %s, %s", self.model_path.name, self._runner.providers,
            self._runner.face_split_note,
        )  # fmt: skip

    def _configure(self, ls: LipSyncSettings) -> None:
        self._max_frames = ls.max_batch_size
        self._gate.max_frames = ls.max_batch_size
        self._run_batch.set_max_batch_size(ls.max_batch_size)
        self._run_batch.set_batch_wait_timeout_s(ls.batch_wait_timeout_s)

    def reconfigure(self, user_config: dict) -> None:
        """Hot settings: ``max_batch_size`` (frames per call) and ``batch_wait_timeout_s``."""
        tuned = LipSyncSettings.model_validate({**self._base.model_dump(), **(user_config or {})})
        self._configure(tuned)

    async def infer(
        self,
        mel: np.ndarray,
        crops: np.ndarray,
        source: str = "",
        avatar: str = "",
        window: tuple[int, int, int, int] | None = None,
    ) -> np.ndarray:
        """One session's ``k`` frames -> mouths RGB uint8 ``[k, 96, 96, 3]``.

        ``mel [k,1,80,16]`` float32 and the frames' face ``crops`` RGB uint8 ``[k,96,96,3]``
        (each its own reference face, as in Wav2Lip's inference). uint8 both ways keeps
        the payload 8x smaller than the model's float tensors. The frames share inference
        calls with other sessions' frames, whatever avatar those show. ``source`` (the
        session) and ``avatar`` (its name) only label the frames in ``stats``. ``window``
        ``(y0, y1, x0, x1)``: the rows and columns of the mouths that are used
        (``pasteback.mouth_window``); the rest may be 0. A batch computes the smallest
        window holding its requests' windows (the whole crop if one has none).
        """
        mel = np.asarray(mel, np.float32)
        crops = np.asarray(crops)
        # Checked here, per request: a bad request inside a batch would fail its neighbours.
        if mel.ndim != 4 or mel.shape[1:] != (1, 80, 16):
            raise ValueError(f"mel must be [k, 1, 80, 16], got {mel.shape}")
        if crops.dtype != np.uint8 or crops.shape != (len(mel), 96, 96, 3):
            raise ValueError(
                f"crops must be uint8 [{len(mel)}, 96, 96, 3], got {crops.dtype} {crops.shape}"
            )
        if window is not None:
            window = checked_window(window)
        if len(mel) == 0:
            return np.zeros((0, 96, 96, 3), np.uint8)
        step = self._max_frames
        parts = [
            self._submit(
                LipSyncRequest(mel[i : i + step], crops[i : i + step], source, avatar, window)
            )
            for i in range(0, len(mel), step)
        ]
        return np.concatenate(await asyncio.gather(*parts))

    async def _submit(self, request: LipSyncRequest) -> np.ndarray:
        await self._gate.admit(len(request))
        if len(request) > self._max_frames:  # max_batch_size shrank while it waited
            self._gate.give_back(len(request))
            r = request
            return await self.infer(r.mel, r.crops, r.source, r.avatar, r.window)
        try:
            return await self._run_batch(request)
        finally:
            if not request.started:  # cancelled (or refused) before its batch ran
                self._gate.give_back(len(request))

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01, batch_size_fn=_frames_in)
    async def _run_batch(self, requests: list[LipSyncRequest]) -> list[np.ndarray]:
        mel = np.concatenate([r.mel for r in requests])
        crops = np.concatenate([r.crops for r in requests])
        for r in requests:
            r.started = True
        self._gate.started(len(mel))
        t = time.perf_counter()
        try:  # in a thread: the loop keeps taking requests meanwhile
            window = _batch_window(requests)
            out = await asyncio.to_thread(infer_mouths, self._runner, mel, crops, window)
        finally:
            self._busy_s += time.perf_counter() - t
            self._gate.finished()
        self._frames_hist[len(mel)] += 1
        self._requests_hist[len(requests)] += 1
        self._mixed += len({r.source for r in requests}) > 1
        self._mixed_avatars += len({r.avatar for r in requests}) > 1
        bounds = np.cumsum([len(r) for r in requests])[:-1]
        return np.split(out, bounds)

    def stats(self) -> dict:
        """Batches so far: frames and requests per call, batches mixing sessions (sources) and
        mixing avatars, time in inference; and what is in flight now. ``face_cache``: the face
        encoder's cache (``FaceFeatureCache.stats``), None when the whole model runs;
        ``mouth_windows``: the windows that have a cropped graph (None: windows are off)."""
        cache, windows = self._runner.face_cache, self._runner.mouth_windows
        return {
            "batches": sum(self._frames_hist.values()),
            "frames_per_batch": dict(self._frames_hist),
            "requests_per_batch": dict(self._requests_hist),
            "mixed_batches": self._mixed,
            "mixed_avatar_batches": self._mixed_avatars,
            "busy_s": self._busy_s,
            "waiting_requests": self._gate.waiting,
            "busy": not self._gate.idle,  # frames running, let in or waiting
            "max_batch_size": self._max_frames,
            "providers": list(self._runner.providers),
            "parallel_runs": self._runner.parallel_runs,
            "face_cache": cache.stats() if cache is not None else None,
            "mouth_windows": windows.windows if windows is not None else None,
        }

    def reset_stats(self) -> None:
        self._frames_hist.clear()
        self._requests_hist.clear()
        self._mixed = 0
        self._mixed_avatars = 0
        self._busy_s = 0.0

    async def ready(self) -> bool:
        return True
