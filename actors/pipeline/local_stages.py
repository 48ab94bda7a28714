"""In-process wiring of the reply stages, for the CLI, notebooks and benchmarks.

The Serve app wires the same :class:`TurnPipeline` to deployment handles instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from actors.core.messages import Sentence, TTSAudio
from actors.engines.tts import tts_engines
from actors.media.encoder import FragmentedMP4Encoder
from actors.pipeline.builders import make_encoder, make_splitter
from actors.pipeline.turn import TurnPipeline
from config import Settings


def make_sprite(settings: Settings):
    """The sprite avatar. When Wav2Lip was asked for, its ``note`` says why it is not in use
    (missing pack or weights, and how to get them)."""
    from actors.engines.avatar.sprite import SpriteAvatar

    a = settings.avatar
    sprite = SpriteAvatar(
        size=a.size, fps=a.fps, mouth_smoothing=a.mouth_smoothing, seed=a.seed, palette=a.palette
    )
    if a.kind == "wav2lip":
        from actors.engines.avatar.wav2lip import unavailable_reason

        sprite.note = unavailable_reason(settings) or ""
    return sprite


def make_avatar(settings: Settings):
    """The configured avatar renderer; Wav2Lip falls back to the sprite when unavailable."""
    if settings.avatar.kind == "wav2lip":
        from actors.engines.avatar.wav2lip import Wav2LipAvatar, make_runner, unavailable_reason

        if unavailable_reason(settings) is None:
            ls = settings.lipsync
            return Wav2LipAvatar.load(
                settings.avatars_dir,
                settings.avatar.name,
                runner=make_runner(settings),
                fps=settings.avatar.fps,
                batch_size=ls.max_batch_size,
            )
    return make_sprite(settings)


class LocalStages:
    """TTS, avatar and encoder objects living in this process."""

    def __init__(self, settings: Settings, *, tts=None, avatar=None) -> None:
        self.settings = settings
        self.tts = tts if tts is not None else tts_engines.create(settings.tts)
        self.avatar = avatar if avatar is not None else make_avatar(settings)

    async def speak(self, sentence: Sentence) -> TTSAudio:
        return await self.tts.synthesize(sentence)

    async def animate(self, audio: TTSAudio, first_frame: int):
        return await asyncio.to_thread(
            self.avatar.talking, audio.pcm, audio.sample_rate, first_frame=first_frame
        )

    def encoder(self) -> FragmentedMP4Encoder:
        a = self.avatar
        return make_encoder(self.settings, width=a.width, height=a.height, fps=a.fps)

    def pipeline(self, *, depth: int = 3) -> TurnPipeline:
        return TurnPipeline(
            speak=self.speak,
            animate=self.animate,
            encoder_factory=self.encoder,
            splitter_factory=lambda: make_splitter(self.settings),
            fps=self.avatar.fps,
            depth=depth,
        )


async def verbatim(text: str) -> AsyncIterator[str]:
    """A text source that yields ``text`` as it is (the CLI's ``say``)."""
    yield text


def check_writable(path: Path) -> None:
    """Fail early, before any work, if ``path`` cannot be written."""
    path = path.expanduser()
    if path.is_dir():
        raise OSError(f"{path} is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OSError(f"directory {parent} does not exist")
    try:
        if path.exists():  # opened for append and closed: its content is untouched
            with open(path, "ab"):
                pass
        else:  # probe the directory without leaving a file behind
            with tempfile.TemporaryFile(dir=parent):
                pass
    except OSError as exc:
        raise OSError(f"cannot write {path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def atomic_output(path: Path):
    """A binary file that becomes ``path`` only if the block ends without an exception.

    A failed or interrupted render leaves neither a partial file nor a clobbered old one.
    """
    path = path.expanduser()
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(partial, "wb") as out:
            yield out
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
