"""PyAV's mp4 muxer driven for fragmented MP4: the muxer options, one-off fragment muxers,
and ``write_mp4`` for a whole stream.

How a fragment leaves ``FragmentedMP4Encoder.encode()`` at once: FFmpeg's mp4 muxer only cuts
a fragment when the next keyframe arrives or on ``av_write_frame(NULL)``, which PyAV does not
expose. So the codecs live for the whole stream while each ``encode()`` call muxes its packets
through a short-lived muxer (``frag_discont``: the fragment's ``tfdt`` is the packets' own
timestamp) whose trailer writes one ``moof``+``mdat``; its repeated ``ftyp``+``moov`` header is
dropped. Concatenating the init chunk and the fragments in ``seq`` order gives a playable MP4
file (see ``write_mp4``).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import av

from actors.core.messages import MediaChunk
from actors.media.mp4boxes import iter_boxes

_MOVFLAGS = "empty_moov+default_base_moof+frag_custom+frag_discont+skip_trailer"
# Repeated by every one-off muxer; only the init segment (from start()) carries them.
_HEADER_BOXES = (b"ftyp", b"moov")


class ByteSink(io.RawIOBase):
    """A writable, non-seekable file object collecting what the muxer writes."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buf += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self._buf)
        self._buf.clear()
        return data


def open_muxer(
    sink: ByteSink, *, sample_rate: int, fragment_index: int
) -> av.container.OutputContainer:
    """An mp4 muxer writing fragments numbered from ``fragment_index`` into ``sink``."""
    options = {
        "movflags": _MOVFLAGS,
        "use_editlist": "0",  # the audio edit list is written by hand into the init segment
        "avoid_negative_ts": "disabled",  # keep absolute timestamps across muxers
        "video_track_timescale": str(sample_rate),  # one clock for both tracks
        "fragment_index": str(fragment_index),
    }
    return av.open(sink, "w", format="mp4", container_options=options)


def mux_fragment(
    video_stream: av.video.stream.VideoStream,
    audio_stream: av.audio.stream.AudioStream,
    video_packets: list,
    audio_packets: list,
    *,
    sample_rate: int,
    fragment_index: int,
    audio_delay: int,
) -> bytes:
    """The packets' ``moof``+``mdat``, muxed through a one-off muxer with streams copied from
    the encoder's; audio is moved ``audio_delay`` samples later (the AAC priming)."""
    sink = ByteSink()
    with open_muxer(sink, sample_rate=sample_rate, fragment_index=fragment_index) as muxer:
        video = muxer.add_stream_from_template(video_stream)
        audio = muxer.add_stream_from_template(audio_stream)
        for packet in video_packets:
            packet.duration = packet.duration or 1  # libx264 leaves it 0; trun wants it
            packet.stream = video
        for packet in audio_packets:
            # Priming occupies media time 0..audio_delay; the init segment's edit list hides it.
            packet.pts += audio_delay
            packet.dts += audio_delay
            packet.stream = audio
        muxer.mux(video_packets + audio_packets)
    raw = sink.take()
    return b"".join(
        raw[off : off + size] for kind, off, size in iter_boxes(raw) if kind not in _HEADER_BOXES
    )


def write_mp4(path: str | Path, chunks: Iterable[MediaChunk]) -> Path:
    """Write init + fragments (in the order given) as one MP4 file; returns the path."""
    path = Path(path)
    with path.open("wb") as out:
        for i, chunk in enumerate(chunks):
            if (i == 0) != (chunk.kind == "init"):
                raise ValueError("the first chunk (and only it) must be the init segment")
            out.write(chunk.data)
    return path
