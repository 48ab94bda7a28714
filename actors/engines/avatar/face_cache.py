"""``CachedFaceEncoder``: the Wav2Lip face encoder split off, its outputs kept per face input.

A frame's face input (its crop, lower half masked, and the crop again as reference) is the
same every time the avatar shows that frame: a still portrait has one, a video pack loops a
few hundred. What the face encoder makes of it is kept here under a digest of the input's
bytes, so the encoder runs once per distinct frame and only the audio side runs per frame.
Least recently used entries go first when ``max_bytes`` is reached. Thread-safe: the runner's
parallel slices share one cache. ``CachedFaceEncoder`` holds the encoder's session of the split
graph (``models.face_split``) and hands the decoder the features of a batch of faces.
"""

from __future__ import annotations

import ctypes
import hashlib
import threading
from collections import OrderedDict

import numpy as np

__all__ = [
    "PARTS_TOLERANCE",
    "CachedFaceEncoder",
    "FaceFeatureCache",
    "face_key",
    "random_feeds",
    "release_freed_memory",
]

# Parts of a graph run the same kernels on the same values as the whole (measured 0 apart in
# int8, 6e-7 in fp32); this only catches a split or a crop that went wrong.
PARTS_TOLERANCE = 1e-4
_DTYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}


def random_feeds(session, batch: int = 2) -> dict[str, np.ndarray]:
    """Noise for every input of ``session`` (``batch`` for its free axes): any difference
    between a graph and its parts shows on it."""
    rng = np.random.default_rng(0)
    feeds = {}
    for arg in session.get_inputs():
        shape = [d if isinstance(d, int) else batch for d in arg.shape]
        dtype = _DTYPES[arg.type]
        if dtype is np.float32:
            feeds[arg.name] = rng.standard_normal(shape, dtype=np.float32)
        else:
            info = np.iinfo(dtype)
            feeds[arg.name] = rng.integers(info.min, info.max + 1, shape).astype(dtype)
    return feeds


def release_freed_memory() -> None:
    """Hand freed heap back to the OS (glibc's ``malloc_trim``; nothing elsewhere). Splitting
    and cropping a graph parse and copy it several times; without this a replica keeps ~80 MB
    of that high-water mark resident for good."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def face_key(face: np.ndarray) -> bytes:
    """A 16-byte digest of one face input's bytes (0.1 ms for a [6, 96, 96] float32)."""
    return hashlib.blake2b(np.ascontiguousarray(face).data, digest_size=16).digest()


class FaceFeatureCache:
    """``face key -> tuple of per-frame feature arrays``, at most ``max_bytes`` in all."""

    def __init__(self, *, max_bytes: int) -> None:
        if not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be an int >= 0, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, tuple[np.ndarray, ...]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: bytes) -> tuple[np.ndarray, ...] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: bytes, features: tuple[np.ndarray, ...]) -> None:
        """Keep ``features`` (the caller must not change them); an entry larger than the
        whole cache is not kept."""
        size = sum(f.nbytes for f in features)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= sum(f.nbytes for f in old)
            while self._entries and self._bytes + size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= sum(f.nbytes for f in evicted)
            self._entries[key] = features
            self._bytes += size

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def stats(self) -> dict:
        """Hits and misses so far, entries and bytes held now."""
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "entries": len(self._entries),
                    "bytes": self._bytes, "max_bytes": self.max_bytes}  # fmt: skip


class CachedFaceEncoder:
    """``faces [B,6,96,96] -> the decoder's face inputs``, through ``cache``."""

    def __init__(self, encoder, boundary, face: str, cache: FaceFeatureCache):
        self.encoder, self.boundary, self.face, self.cache = encoder, tuple(boundary), face, cache
        self.note = ""

    @classmethod
    def load(cls, model_path, *, whole, make_session, names, max_bytes: int):
        """Split ``model_path`` (names: mel, face and output tensors) and check the parts
        against ``whole`` (its session) on two frames of noise: ``(encoder, decoder session,
        decoder's serialised ONNX)``. ``FaceSplitError`` if the graph does not split or the
        parts disagree with it."""
        from models.face_split import FaceSplitError, split_face_encoder

        mel_name, face_name, output = names
        try:
            parts = split_face_encoder(model_path, face=face_name, mel=mel_name, output=output)
        except ImportError as exc:
            raise FaceSplitError(f"splitting needs the onnx package ({exc})") from exc
        encoder, decoder = make_session(parts.encoder), make_session(parts.decoder)
        feeds = random_feeds(whole)
        (expected,) = whole.run([output], feeds)
        features = encoder.run(list(parts.boundary), {face_name: feeds[face_name]})
        decoder_feeds = {
            mel_name: feeds[mel_name],
            **dict(zip(parts.boundary, features, strict=True)),
        }
        (got,) = decoder.run([output], decoder_feeds)
        diff = float(np.abs(expected - got).max())
        if diff > PARTS_TOLERANCE:
            raise FaceSplitError(f"its parts differ from it by {diff:.2g}")
        split = cls(encoder, parts.boundary, face_name, FaceFeatureCache(max_bytes=max_bytes))
        per_frame = sum(f[0].nbytes for f in features)
        split.note = (
            f"face encoder cached: {len(parts.boundary)} tensors, {per_frame / 1024:.0f} KiB "
            f"per distinct frame, up to {max_bytes / 2**20:.0f} MiB"
        )
        return split, decoder, parts.decoder

    def features(self, faces: np.ndarray) -> dict[str, np.ndarray]:
        """The boundary tensors for ``faces``: from the cache, the encoder run on the rest."""
        keys = [face_key(face) for face in faces]
        found = {}  # one lookup per frame, so the cache's hits and misses count frames
        for key in keys:
            entry = self.cache.get(key)
            if entry is not None or key not in found:
                found[key] = entry
        missing = [key for key, entry in found.items() if entry is None]
        if missing:
            rows = [keys.index(key) for key in missing]
            outs = self.encoder.run(list(self.boundary), {self.face: faces[rows]})
            for j, key in enumerate(missing):
                entry = tuple(np.array(out[j]) for out in outs)  # copies: the batch can go
                self.cache.put(key, entry)
                found[key] = entry
        return {
            name: np.stack([found[key][t] for key in keys]) for t, name in enumerate(self.boundary)
        }
