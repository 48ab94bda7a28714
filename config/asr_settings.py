"""Speech in: the settings of each ASR engine, chosen by ``asr.engine``.

``whisper`` (the default, and the one engine avatar-chat ships) runs faster-whisper. Other
engines join by registering (``actors.engines.asr.asr_engines.register``); an engine from
outside the package is named in ``Settings.plugins`` so every process imports it first.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from config.engine_settings import EngineSettings, engine_choice, register_engine_settings

__all__ = ["ASREngineSettings", "ASRSettings", "WhisperASRSettings"]


class ASREngineSettings(EngineSettings):
    """What every ASR engine has: its registry name."""


# Whisper's best-known inventions on noise, from subtitle credits in its training data.
PHANTOM_LINES = (
    "字幕由Amara.org社群提供",
    "小編字幕由Amara.org社區提供",
    "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
    "谢谢观看",
    "謝謝觀看",
    "Thanks for watching!",
    "Thank you for watching.",
    "Subtitles by the Amara.org community",
    "Please subscribe to my channel.",
)
INITIAL_PROMPTS = {"zh": "以下是普通话的句子，使用简体中文。"}


class WhisperASRSettings(ASREngineSettings):
    engine: Literal["whisper"] = Field(
        "whisper", description="faster-whisper (CTranslate2 Whisper models), on CPU or CUDA."
    )
    model: str = Field(
        "base",
        description="faster-whisper model name (downloaded on first use) or local model dir.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: CUDA float16 when a GPU is present, else CPU int8."
    )
    compute_type: str | None = Field(None, description="CTranslate2 compute type (None: auto).")
    language: str | None = Field("en", description="Spoken language; None detects it.")
    beam_size: int = Field(1, ge=1, le=10, description="Beam width; 1 is fastest.")
    cpu_threads: int = Field(0, ge=0, description="CPU threads per replica (0: library default).")
    local_files_only: bool = Field(
        False, description="Never download: use only models already in models_dir."
    )
    initial_prompts: dict[str, str] = Field(
        default_factory=lambda: dict(INITIAL_PROMPTS),
        description=(
            "Text Whisper continues from, per spoken language (e.g. zh: a sentence in "
            "Simplified characters, so it writes Simplified rather than Traditional)."
        ),
    )
    phantom_lines: list[str] = Field(
        default_factory=lambda: list(PHANTOM_LINES),
        description=(
            "Lines Whisper makes up on noise or silence (video credits); a segment that is "
            "only these is dropped, compared without case, spaces or punctuation."
        ),
    )
    max_no_speech_prob: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Segments Whisper rates more likely than this to be no speech are dropped.",
    )

    @property
    def label(self) -> str:
        return f"whisper {self.model!r}"


register_engine_settings(ASREngineSettings, WhisperASRSettings)

ASRSettings = engine_choice(ASREngineSettings, default="whisper")  # the type of ``Settings.asr``
