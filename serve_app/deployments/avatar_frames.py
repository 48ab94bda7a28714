"""How the Avatar deployment streams one sentence's frames, per avatar kind.

``sprite_frames`` draws the sprite in a worker thread, in the turn's fragment sizes (the first
chunk leaves after a few frames). ``wav2lip_frames`` computes the mel windows, sends chunks of
``chunk_frames`` frames (mel windows and the pack's face crops: nothing else of the avatar) to
the ``LipSync`` pool with ``chunks_in_flight`` of them in flight, pastes the mouths back and
yields each chunk in order as it is done. Both take the audio padded to ``n_samples``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

import numpy as np

from actors.core.messages import TTSAudio, pad_to_frames
from actors.engines.avatar.base import AvatarRenderer
from actors.engines.avatar.wav2lip import Wav2LipAvatar
from actors.media.fragments import fragment_sizes


async def sprite_frames(
    renderer: AvatarRenderer, audio: TTSAudio, first_frame: int, n_samples: int
) -> AsyncIterator[np.ndarray]:
    """The drawn face's frames for ``audio``, in the turn's fragment sizes."""
    r = renderer
    pcm = pad_to_frames(audio.pcm, audio.sample_rate, r.fps, min_samples=n_samples)
    n_frames = len(pcm) * r.fps // audio.sample_rate
    sizes = fragment_sizes(n_frames, first_sentence=first_frame == 0)
    chunks = r.talking_chunks(pcm, audio.sample_rate, sizes, first_frame=first_frame)
    while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
        yield chunk


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
) -> AsyncIterator[np.ndarray]:
    """Frames of ``audio`` through the ``lipsync`` handle, in chunks of ``chunk_frames``.

    ``source`` (the session) and ``name`` (the avatar) only label the requests for the pool's
    batch statistics. Leaving early (an interrupt) cancels the chunks still being made.
    """
    pcm = pad_to_frames(audio.pcm, audio.sample_rate, avatar.fps, min_samples=n_samples)
    mel = await asyncio.to_thread(avatar.mel_inputs, pcm, audio.sample_rate)

    async def chunk(part: np.ndarray, first: int) -> np.ndarray:
        crops = avatar.face_crops(first, len(part))  # a cheap array gather
        response = lipsync.infer.remote(part, crops, source, name)
        try:
            mouths = await response
        except asyncio.CancelledError:  # awaiting a response does not cancel it by itself
            response.cancel()
            raise
        return await asyncio.to_thread(avatar.paste, mouths, first)

    pending: deque[asyncio.Task] = deque()
    try:
        for start in range(0, len(mel), chunk_frames):
            part = mel[start : start + chunk_frames]
            pending.append(asyncio.create_task(chunk(part, first_frame + start)))
            if len(pending) >= in_flight:
                yield await pending.popleft()
        while pending:
            yield await pending.popleft()
    finally:  # the consumer left (barge-in): drop the chunks still being made
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
