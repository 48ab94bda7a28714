"""ISO-BMFF (MP4) boxes: walking them, adding the AAC edit list, reading the codecs.

Just enough of the box structure for the init segments and fragments that
``actors.media.encoder.FragmentedMP4Encoder`` writes: 32-bit box sizes, no ``uuid`` types.
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


def boxes(data: bytes, kind: bytes, parent: tuple[int, int] | None = None):
    """``(offset, size)`` of each ``kind`` box at the top level of ``data``, or directly
    inside the ``parent`` box given as ``(offset, size)``."""
    start, end = (parent[0] + 8, sum(parent)) if parent else (0, None)
    return ((off, size) for k, off, size in iter_boxes(data, start, end) if k == kind)


def children(data: bytes, parent: tuple[int, int]) -> dict[bytes, tuple[int, int]]:
    """The boxes directly inside ``parent`` by type, as ``(offset, size)``."""
    return {k: (off, size) for k, off, size in iter_boxes(data, parent[0] + 8, sum(parent))}


def aac_end(fragment: bytes, *, track: int = 2, frame_samples: int = 1024) -> int:
    """End of ``track``'s AAC audio in a ``moof+mdat`` fragment, in samples of media time
    (priming included); 0 if the fragment holds none. ``FragmentedMP4Encoder`` adds the
    video track first, so its audio is track 2."""
    end = 0
    for moof in boxes(fragment, b"moof"):
        for traf in boxes(fragment, b"traf", moof):
            found = children(fragment, traf)
            if not {b"tfhd", b"tfdt", b"trun"} <= found.keys():
                continue
            if struct.unpack_from(">I", fragment, found[b"tfhd"][0] + 12)[0] != track:
                continue
            tfdt = found[b"tfdt"][0]
            wide = fragment[tfdt + 8] == 1  # version 1: 64-bit time
            start = struct.unpack_from(">Q" if wide else ">I", fragment, tfdt + 12)[0]
            count = struct.unpack_from(">I", fragment, found[b"trun"][0] + 12)[0]
            end = max(end, start + count * frame_samples)
    return end


def with_audio_edit_list(init: bytes, media_time: int) -> bytes:
    """Insert ``edts/elst`` (start at ``media_time``, to the end) into the sound track."""
    elst = struct.pack(">I4sIIIiHH", 28, b"elst", 0, 1, 0, media_time, 1, 0)
    edts = struct.pack(">I4s", 8 + len(elst), b"edts") + elst
    for moov in boxes(init, b"moov"):
        for trak in boxes(init, b"trak", moov):
            inside = children(init, trak)
            if b"mdia" not in inside:
                continue
            hdlr = children(init, inside[b"mdia"]).get(b"hdlr")
            if hdlr is None or init[hdlr[0] + 16 : hdlr[0] + 20] != b"soun":  # handler_type
                continue
            at = sum(inside[b"tkhd"])  # the edit list goes right after the track header
            out = bytearray(init[:at] + edts + init[at:])
            for box, _ in (moov, trak):  # both enclosing boxes grow by the inserted bytes
                struct.pack_into(">I", out, box, struct.unpack_from(">I", out, box)[0] + len(edts))
            return bytes(out)
    raise RuntimeError("init segment has no sound track to attach the AAC edit list to")
