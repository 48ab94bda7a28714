"""In-process wiring of the reply stages, for the CLI, notebooks and benchmarks.

The Serve app wires the same :class:`TurnPipeline` to deployment handles instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from actors.core.messages import Sentence, TextDelta, TTSAudio
from actors.engines.avatar.renderer_choice import make_avatar
from actors.engines.tts import tts_engines
from actors.media.encoder import FragmentedMP4Encoder
from actors.pipeline.builders import make_encoder, make_splitter
from actors.pipeline.turn import TurnPipeline
from config import Settings


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


async def verbatim(text: str) -> AsyncIterator[TextDelta]:
    """A text source that yields ``text`` as it is, one delta (the CLI's ``say``)."""
    yield TextDelta(text)
