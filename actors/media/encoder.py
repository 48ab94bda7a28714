"""Fragmented-MP4 encoder (H.264 + AAC) for browser Media Source Extensions, in process via PyAV.

The codecs live for the whole stream; each ``encode()`` call muxes its packets into one
``moof``+``mdat`` fragment through a short-lived muxer (``actors.media.mp4mux`` says why).
Concatenating the init chunk and the fragments in ``seq`` order gives a playable MP4 file
(see ``write_mp4``).

Timing: video frame k has pts k (1/fps); audio pts count samples (1/sample_rate) from the
stream start, so audio and video stay in sync by construction. AAC's 1024 priming samples
are put in front of the audio media timeline and cut by an edit list in the init segment.
The AAC encoder holds back about two frames (~85-128 ms at 24 kHz): that audio arrives with
the next fragment or with ``close()``.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
from av.video.frame import PictureType

from actors.core.messages import MediaChunk, TTSAudio, samples_per_frame
from actors.core.pixels import frame_shape, rgb_to_yuv420p
from actors.media.aac import AAC_PRIMING_SAMPLES, AAC_SAMPLE_RATES, AUDIO_LOOKAHEAD, AACEncoder
from actors.media.mp4boxes import codecs_of, with_audio_edit_list
from actors.media.mp4mux import ByteSink, mux_fragment, open_muxer, write_mp4

__all__ = [
    "AAC_PRIMING_SAMPLES",
    "AUDIO_LOOKAHEAD",
    "AAC_SAMPLE_RATES",
    "X264_PRESETS",
    "FragmentedMP4Encoder",
    "codecs_of",
    "write_mp4",
]

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")
_BT601 = 6  # AVCOL_SPC/PRI/TRC_SMPTE170M: tag the colours swscale's RGB->YUV conversion uses
_LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG


class FragmentedMP4Encoder:
    """``TTSAudio + frames -> MediaChunk``: H.264 + AAC fragmented MP4, one fragment per call.

    ``start()`` returns the init segment (ftyp+moov, seq 0); each ``encode(frames, pcm)``
    returns the fragment(s) holding those frames (seq 1, 2, ...); ``close()`` flushes the
    encoders into a last fragment. Synchronous and CPU-bound: call it from a thread.
    """

    def __init__(
        self,
        *,
        width: int,
        height: int,
        fps: int = 25,
        sample_rate: int = 24000,
        preset: str = "ultrafast",
        crf: int = 23,
        audio_bitrate: int = 64000,
        threads: int = 1,
        turn_id: str = "",
    ) -> None:
        for name, value in (("width", width), ("height", height)):
            if not isinstance(value, int) or value < 16 or value % 2:
                raise ValueError(f"{name} must be an even integer >= 16, got {value!r}")
        if not isinstance(fps, int) or fps <= 0:
            raise ValueError(f"fps must be a positive integer, got {fps!r}")
        if sample_rate not in AAC_SAMPLE_RATES:
            raise ValueError(f"sample_rate {sample_rate} is not an AAC rate {AAC_SAMPLE_RATES}")
        if sample_rate % fps:
            raise ValueError(f"sample_rate {sample_rate} is not a multiple of fps {fps}")
        if preset not in X264_PRESETS:
            raise ValueError(f"preset must be one of {X264_PRESETS}, got {preset!r}")
        if not 0 <= crf <= 51:
            raise ValueError(f"crf must be in 0..51, got {crf}")
        if not 8000 <= audio_bitrate <= 320000:
            raise ValueError(f"audio_bitrate must be in 8000..320000 bit/s, got {audio_bitrate}")
        if not isinstance(threads, int) or not 0 <= threads <= 16:
            raise ValueError(f"threads must be an integer in 0..16 (0: automatic), got {threads!r}")
        self.width, self.height, self.fps, self.sample_rate = width, height, fps, sample_rate
        self.preset, self.crf, self.audio_bitrate = preset, crf, audio_bitrate
        self.threads = threads
        self.turn_id = turn_id
        self.samples_per_frame = samples_per_frame(sample_rate, fps)
        self.init_segment: bytes | None = None
        self.frames_encoded = 0
        self._seq = 0
        self._closed = False
        self._header: av.container.OutputContainer | None = None

    def start(self) -> MediaChunk:
        """Open the codecs and return the init segment (``kind="init"``, ``seq=0``)."""
        if self._header is not None or self._closed:
            raise RuntimeError("start() may be called once, before encode()")
        sink = ByteSink()
        header = open_muxer(sink, sample_rate=self.sample_rate, fragment_index=1)
        video = header.add_stream(
            "libx264",
            rate=self.fps,
            options={
                "preset": self.preset,
                "tune": "zerolatency",
                "crf": str(self.crf),
                "threads": str(self.threads),
            },
        )
        video.width, video.height, video.pix_fmt = self.width, self.height, "yuv420p"
        video.codec_context.time_base = Fraction(1, self.fps)
        ctx = video.codec_context
        ctx.colorspace = ctx.color_primaries = ctx.color_trc = _BT601
        ctx.color_range = _LIMITED_RANGE
        aac = AACEncoder(header, sample_rate=self.sample_rate, bit_rate=self.audio_bitrate)
        header.start_encoding()
        self._header, self._video, self._aac = header, video, aac
        self.init_segment = with_audio_edit_list(sink.take(), AAC_PRIMING_SAMPLES)
        return MediaChunk(self.init_segment, "init", 0, turn_id=self.turn_id)

    @property
    def codecs(self) -> str:
        """RFC 6381 codecs, e.g. ``avc1.42c015,mp4a.40.2`` (H.264 profile and level read from
        the init segment's avcC box); for ``MediaSource.addSourceBuffer``."""
        if self.init_segment is None:
            raise RuntimeError("codecs are known after start()")
        return codecs_of(self.init_segment)

    @property
    def mime_type(self) -> str:
        return f'video/mp4; codecs="{self.codecs}"'

    def encode(
        self, frames: np.ndarray, pcm: np.ndarray, *, upcoming: np.ndarray | None = None
    ) -> list[MediaChunk]:
        """Encode N frames, RGB ``[N, H, W, 3]`` or I420 ``[N, 3H/2, W]`` uint8
        (``actors.core.pixels``), and their ``N * sample_rate // fps`` int16 mono samples;
        returns the fragment holding these frames (empty if N == 0).

        ``upcoming`` is the audio that follows ``pcm``, when known (the rest of a sentence):
        its first ``AUDIO_LOOKAHEAD`` samples are encoded now, so this fragment's audio reaches
        the end of its video although the AAC encoder holds two frames back. A player stalls
        where either track runs out, so without it every fragment ends ~100 ms short. The next
        call still passes the audio of its own frames; what was taken ahead is skipped.
        """
        if self._header is None or self._closed:
            raise RuntimeError("encode() needs start() first and is not allowed after close()")
        frames, pcm = self._checked(frames, pcm)
        if upcoming is not None and (upcoming.dtype != np.int16 or upcoming.ndim != 1):
            raise ValueError("upcoming must be a 1-D int16 numpy array (mono PCM16)")
        video_packets = []
        if frames.ndim == 4:
            # OpenCV's BT.601 limited-range RGB->I420 is SIMD code and costs a third of
            # swscale's per-frame reformat, which was half of all encoding time.
            frames = rgb_to_yuv420p(frames)
        for i, yuv in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts, frame.time_base = self.frames_encoded + i, Fraction(1, self.fps)
            if i == 0:  # every fragment starts with an IDR frame: decodable on its own
                frame.pict_type = PictureType.I
            video_packets += self._video.encode(frame)
        start_s, duration_s = self.frames_encoded / self.fps, len(frames) / self.fps
        self._aac.add(pcm, self.frames_encoded * self.samples_per_frame, upcoming)
        self.frames_encoded += len(frames)
        audio_packets = self._aac.encode(flush=False)
        return self._fragment(video_packets, audio_packets, start_s, duration_s)

    def encode_tts(self, audio: TTSAudio, frames: np.ndarray) -> list[MediaChunk]:
        """``encode()`` for a sentence's speech; its PCM must be padded to whole frames."""
        if audio.sample_rate != self.sample_rate:
            raise ValueError(f"audio is {audio.sample_rate} Hz, encoder is {self.sample_rate} Hz")
        return self.encode(frames, audio.pcm)

    def close(self) -> list[MediaChunk]:
        """Flush both encoders (AAC holds back ~2 frames) and return the last fragment."""
        if self._closed:
            return []
        self._closed = True
        if self._header is None:
            return []
        try:
            video_packets, audio_packets = self._video.encode(None), self._aac.encode(flush=True)
            return self._fragment(video_packets, audio_packets, self.frames_encoded / self.fps, 0.0)
        finally:
            self._header.close()  # no packets were muxed into it: it writes nothing more

    def _checked(self, frames: np.ndarray, pcm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rgb = frame_shape("rgb24", self.height, self.width)
        yuv = frame_shape("yuv420p", self.height, self.width)
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
            raise ValueError("frames must be a uint8 numpy array, [N, H, W, 3] RGB or I420")
        if frames.shape[1:] not in (rgb, yuv):
            raise ValueError(
                f"frames must have shape [N, {', '.join(map(str, rgb))}] (RGB) or "
                f"[N, {', '.join(map(str, yuv))}] (I420), got {list(frames.shape)}"
            )
        if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError("pcm must be a 1-D int16 numpy array (mono PCM16)")
        want = len(frames) * self.samples_per_frame
        if len(pcm) != want:
            raise ValueError(
                f"{len(frames)} frames at {self.fps} fps need {want} samples at "
                f"{self.sample_rate} Hz, got {len(pcm)} (pad the audio to whole frames)"
            )
        return np.ascontiguousarray(frames), pcm

    def _fragment(
        self, video_packets: list, audio_packets: list, start_s: float, duration_s: float
    ) -> list[MediaChunk]:
        """The packets as one fragment chunk (none for no packets)."""
        if not video_packets and not audio_packets:
            return []
        self._seq += 1
        data = mux_fragment(
            self._video,
            self._aac.stream,
            video_packets,
            audio_packets,
            sample_rate=self.sample_rate,
            fragment_index=self._seq,
            audio_delay=AAC_PRIMING_SAMPLES,
        )
        return [MediaChunk(data, "fragment", self._seq, start_s, duration_s, self.turn_id)]
