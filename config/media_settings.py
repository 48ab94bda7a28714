"""Settings of the picture: the avatar, the Wav2Lip pool and the video encoder."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from config.section import Section


class AvatarSettings(Section):
    kind: Literal["sprite", "wav2lip"] = Field(
        "sprite", description="sprite: procedural face (no weights); wav2lip: prepared photo."
    )
    name: str | None = Field(None, description="Prepared avatar pack name (wav2lip).")
    size: int = Field(
        384, ge=256, le=512, multiple_of=2, description="Sprite frame width and height (px, even)."
    )
    fps: int = Field(25, description="Video frame rate; Wav2Lip is trained at 25.")
    seed: int = Field(0, description="Varies when the sprite avatar blinks and glances.")
    palette: Literal["default", "night"] = Field("default", description="Sprite colour scheme.")
    mouth_smoothing: float = Field(
        0.5, ge=0.0, lt=1.0, description="Exponential smoothing of the mouth opening per frame."
    )
    max_loaded_mib: int = Field(
        512,
        ge=1,
        description=(
            "Memory budget of the avatars one Avatar replica keeps loaded (the arrays' bytes): "
            "the least recently used beyond it are dropped; the newest always stays."
        ),
    )

    @field_validator("fps")
    @classmethod
    def _fps(cls, v: int) -> int:
        if v != 25:
            raise ValueError("only 25 fps is supported (audio rates divide evenly by it)")
        return v


class LipSyncSettings(Section):
    model: str = Field(
        "wav2lip", description="Registry name of the Wav2Lip ONNX model in models_dir."
    )
    precision: Literal["fp32", "int8"] = Field(
        "fp32", description="fp32, or int8 (static QDQ, made by `avatar-chat models quantize`)."
    )
    providers: list[str] | None = Field(
        None, description="ONNX Runtime execution providers; None: CUDA if available, else CPU."
    )
    intra_op_threads: int | None = Field(
        None, ge=1, description="Threads per inference call; None lets ONNX Runtime decide."
    )
    parallel_runs: int = Field(
        1,
        ge=1,
        le=64,
        description=(
            "Slices of a batch run at once, each on intra_op_threads threads. On a CPU, "
            "parallel_runs = cores with intra_op_threads = 1 runs batches fastest; keep 1 on GPUs."
        ),
    )
    face_cache_mb: int = Field(
        256,
        ge=0,
        le=65536,
        description=(
            "Memory per LipSync replica for the face encoder's outputs, kept per distinct avatar "
            "frame (an avatar's frames repeat): per frame only the audio side and the decoder "
            "run, with the same output. int8: 284 KiB per frame, fp32: 1.1 MiB (a still "
            "portrait is 1 frame, a video pack up to max_frames); 0: run the whole model."
        ),
    )
    mouth_windows: int = Field(
        4,
        ge=0,
        le=64,
        description=(
            "Copies of the model per LipSync replica that compute only an avatar's mouth "
            "window (the part of the output paste-back reads; the same pixels, fewer "
            "multiply-adds), built on first use; avatars beyond that many windows run the "
            "whole model. 0: always the whole model."
        ),
    )
    max_batch_size: int = Field(
        16, ge=1, le=512, description="Frames gathered across sessions into one inference call."
    )
    batch_wait_timeout_s: float = Field(
        0.01, ge=0, le=1, description="How long a batch waits to fill before running."
    )
    chunk_frames: int = Field(
        8, ge=1, le=250, description="Frames per streamed chunk of a sentence (first ones early)."
    )
    chunks_in_flight: int = Field(
        3,
        ge=1,
        le=16,
        description=(
            "Chunks of one sentence sent to LipSync at once: more let the batcher fill its "
            "calls from a single session; fewer bound the work thrown away at an interrupt."
        ),
    )
    silence_db: float | None = Field(
        -45.0,
        ge=-120.0,
        le=0.0,
        description=(
            "Frames whose whole Wav2Lip audio window (0.24 s) stays below this level (dBFS) show "
            "the avatar's own frame instead of going through the model; None (or false): every "
            "frame is inferred."
        ),
    )
    silence_blend_frames: int = Field(
        3,
        ge=0,
        le=12,
        description=(
            "Frames of a silent stretch, next to speech, that are still inferred and blended "
            "into the avatar's frame (the mouth fades, not snaps); 0: a hard cut."
        ),
    )
    max_side: int = Field(1024, ge=128, description="Avatar inputs are downscaled to this side.")
    max_frames: int = Field(250, ge=1, description="Frames read from an avatar video.")

    @field_validator("silence_db", mode="before")
    @classmethod
    def _silence_off(cls, v):
        # A bool would pass as a number (false: 0 dBFS, every frame silent): false means off.
        if v is False:
            return None
        if v is True:
            raise ValueError("give a level in dBFS (e.g. -45), or null or false to turn it off")
        return v


class EncoderSettings(Section):
    preset: str = Field("ultrafast", description="libx264 preset.")
    crf: int = Field(23, ge=0, le=51, description="libx264 constant rate factor.")
    audio_bitrate: int = Field(64000, ge=16000, description="AAC bit rate (bit/s).")
    threads: int = Field(
        1,
        ge=0,
        le=16,
        description=(
            "libx264 threads per turn encoder (0: libx264 picks). One is the cheapest in CPU per "
            "frame, which is what many concurrent sessions need; more cut one session's latency."
        ),
    )
