"""Stage objects built from settings, shared by the in-process and the Serve wiring."""

from __future__ import annotations

from collections.abc import Mapping

from actors.media.encoder import FragmentedMP4Encoder
from actors.pipeline.splitter import SentenceSplitter
from config import Settings


def make_encoder(settings: Settings, *, width: int, height: int, fps: int) -> FragmentedMP4Encoder:
    """The fragmented-MP4 encoder for one turn of ``width`` x ``height`` frames."""
    e = settings.encoder
    return FragmentedMP4Encoder(
        width=width,
        height=height,
        fps=fps,
        sample_rate=settings.tts.sample_rate,
        preset=e.preset,
        crf=e.crf,
        audio_bitrate=e.audio_bitrate,
        threads=e.threads,
    )


def make_splitter(
    settings: Settings, *, language: str | None = None, voices: Mapping[str, str] | None = None
) -> SentenceSplitter:
    """A sentence splitter for one turn's LLM text; ``language`` and ``voices`` (language ->
    voice) are the session's choices, which its sentences carry to the TTS."""
    t = settings.text
    return SentenceSplitter(
        first_clause_min_s=t.first_clause_min_s,
        max_sentence_chars=t.max_sentence_chars,
        language=language,
        voices=voices,
    )
