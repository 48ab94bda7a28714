"""ISO-BMFF (MP4) boxes: walking them, adding the AAC edit list, reading the codecs.

Just enough of the box structure for the init segments and fragments that
``actors.media.FragmentedMP4Encoder`` writes: 32-bit box sizes, no ``uuid`` types.
"""

from __future__ import annotations

import struct


def codecs_of(init_segment: bytes) -> str:
    """RFC 6381 codecs string of an init segment written by ``FragmentedMP4Encoder``."""
    at = init_segment.index(b"avcC") + 5  # after the box type and configurationVersion
    avc = init_segment[at : at + 3].hex()  # profile, constraint flags, level
    return f"avc1.{avc},mp4a.40.2"


def iter_boxes(data: bytes, start: int = 0, end: int | None = None):
    """Top-level ISO-BMFF boxes in ``data[start:end]`` as ``(type, offset, size)``."""
    end = len(data) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        if size < 8:
            raise ValueError(f"unsupported box size {size} at offset {start}")
        yield kind, start, size
        start += size


def with_audio_edit_list(init: bytes, media_time: int) -> bytes:
    """Insert ``edts/elst`` (start at ``media_time``, to the end) into the sound track."""
    elst = struct.pack(">I4sIIIiHH", 28, b"elst", 0, 1, 0, media_time, 1, 0)
    edts = struct.pack(">I4s", 8 + len(elst), b"edts") + elst
    for kind, moov, moov_size in iter_boxes(init):
        if kind != b"moov":
            continue
        for kind, trak, trak_size in iter_boxes(init, moov + 8, moov + moov_size):
            if kind != b"trak":
                continue
            children = {k: (o, n) for k, o, n in iter_boxes(init, trak + 8, trak + trak_size)}
            if b"mdia" not in children:
                continue
            mdia, mdia_size = children[b"mdia"]
            hdlr = {k: o for k, o, _ in iter_boxes(init, mdia + 8, mdia + mdia_size)}.get(b"hdlr")
            if hdlr is None or init[hdlr + 16 : hdlr + 20] != b"soun":  # handler_type
                continue
            tkhd, tkhd_size = children[b"tkhd"]
            out = bytearray(init[: tkhd + tkhd_size] + edts + init[tkhd + tkhd_size :])
            for box in (moov, trak):  # both enclosing boxes grow by the inserted bytes
                struct.pack_into(">I", out, box, struct.unpack_from(">I", out, box)[0] + len(edts))
            return bytes(out)
    raise RuntimeError("init segment has no sound track to attach the AAC edit list to")
