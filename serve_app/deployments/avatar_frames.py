"""How the Avatar deployment streams one sentence's frames, per avatar kind.

A sprite's chunks are ``actors.pipeline.frame_chunks.rendered_chunks`` (drawn in a worker
thread, in the turn's fragment sizes; sessions draw sprites themselves, see
``actors.session.sprites``). ``wav2lip_frames`` computes the mel windows, sends chunks of
``chunk_frames`` frames (mel windows and the pack's face crops: nothing else of the avatar) to
the ``LipSync`` pool with ``chunks_in_flight`` of them in flight, pastes the mouths back and
yields each chunk in order as it is done; frames of silent stretches skip the pool and show the
pack's own frame (``actors.engines.avatar.silence``). Both take the audio padded to
``n_samples``. Frames leave in ``pix_fmt`` (``actors.core.pixels``): a session asks for
``yuv420p``, half the bytes of RGB through the object store and what its encoder takes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

import numpy as np

from actors.core.messages import TTSAudio, pad_to_frames
from actors.core.pixels import PixFmt, rgb_to_yuv420p
from actors.engines.avatar.wav2lip import Wav2LipAvatar


async def wav2lip_frames(
    avatar: Wav2LipAvatar,
    lipsync,
    audio: TTSAudio,
    first_frame: int,
    n_samples: int,
    *,
    source: str,
    name: str,
    chunk_frames: int,
    in_flight: int,
    pix_fmt: PixFmt = "rgb24",
) -> AsyncIterator[np.ndarray]:
    """Frames of ``audio`` through the ``lipsync`` handle, in chunks of ``chunk_frames``.

    ``source`` (the session) and ``name`` (the avatar) only label the requests for the pool's
    batch statistics. Leaving early (an interrupt) cancels the chunks still being made.

    With the avatar's ``silence`` set, a chunk sends only its frames of weight above 0
    (``Wav2LipAvatar.lip_weights``): speech and blend-edge frames; the rest are the pack's
    frames. A chunk with nothing to infer sends no request and is gathered from the pack when
    its turn comes, so it holds no memory meanwhile and takes no slot: ``in_flight`` counts
    requests. The chunks yielded, their sizes and order are the same either way.
    """
    pcm = pad_to_frames(audio.pcm, audio.sample_rate, avatar.fps, min_samples=n_samples)

    def features() -> tuple[np.ndarray, np.ndarray]:
        return avatar.mel_inputs(pcm, audio.sample_rate), avatar.lip_weights(pcm, audio.sample_rate)

    mel, weights = await asyncio.to_thread(features)

    def converted(frames: np.ndarray) -> np.ndarray:
        return rgb_to_yuv420p(frames) if pix_fmt == "yuv420p" else frames

    async def chunk(start: int, end: int) -> np.ndarray:
        first, w = first_frame + start, weights[start:end]
        need = np.flatnonzero(w > 0)
        crops = avatar.face_crops(first, end - start)  # a cheap array gather
        part = mel[start:end]
        if len(need) < end - start:
            crops, part = crops[need], part[need]
        response = lipsync.infer.remote(part, crops, source, name, avatar.mouth_window)
        try:
            mouths = await response
        except asyncio.CancelledError:  # awaiting a response does not cancel it by itself
            response.cancel()
            raise
        return await asyncio.to_thread(lambda: converted(avatar.compose_some(mouths, first, w)))

    # A request in flight is a Task; a chunk of pack frames only is its (first, n), gathered
    # when yielded.
    pending: deque[asyncio.Task | tuple[int, int]] = deque()
    requests = 0

    async def next_chunk() -> np.ndarray:
        nonlocal requests
        item = pending.popleft()
        if isinstance(item, tuple):
            first, n = item
            return await asyncio.to_thread(lambda: converted(avatar.idle(n, first_frame=first)))
        requests -= 1
        return await item

    try:
        for start in range(0, len(mel), chunk_frames):
            end = min(start + chunk_frames, len(mel))
            if np.any(weights[start:end] > 0):
                pending.append(asyncio.create_task(chunk(start, end)))
                requests += 1
            else:
                pending.append((first_frame + start, end - start))
            while requests >= in_flight:
                yield await next_chunk()
        while pending:
            yield await next_chunk()
    finally:  # the consumer left (barge-in): drop the chunks still being made
        tasks = [t for t in pending if isinstance(t, asyncio.Task)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
