"""``AvatarCatalog``: the avatars one server offers, by name, loaded on first use and kept in
a least-recently-used cache under a memory budget.

Names:

    sprite              the drawn face in the default palette (``sprite:default`` is the same)
    sprite:<palette>    the drawn face in another of ``sprite_face.PALETTES`` (``sprite:night``)
    <pack>              a prepared Wav2Lip pack ``avatars_dir/<pack>/``, offered only where the
                        Wav2Lip model runs (``packs=True``: a server with its LipSync pool)

``None`` names the configured default: the pack ``avatar.name`` when ``avatar.kind`` is wav2lip
and it can be shown, else the sprite in ``avatar.palette``, whose ``info().note`` then says why
Wav2Lip is not shown. A pack called ``sprite`` is hidden by the sprite.

The cache counts the renderers' arrays (``AvatarRenderer.nbytes``: a sprite's atlas, a pack's
frames and crops) against ``avatar.max_loaded_mib``; past it, the least recently used are
dropped, never the one just loaded. Dropping one only forgets it: a stream still rendering
with it keeps it alive until it ends. The catalog itself does no locking: ``cached``, ``keep``
and ``resolve`` are for one thread (the Serve replica's event loop), ``build`` and ``still``
may run in a worker thread.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from actors.engines.avatar.base import AvatarInfo, AvatarRenderer
from actors.engines.avatar.pack import PACK_VERSION, is_pack_name
from actors.engines.avatar.renderer_choice import make_sprite, sprite_recipe
from actors.engines.avatar.silence import silence_from_settings
from actors.engines.avatar.sprite_face import PALETTES
from actors.engines.avatar.wav2lip import Wav2LipAvatar, pack_missing, unavailable_reason
from config import Settings

__all__ = [
    "SPRITE",
    "THUMBNAIL_PX",
    "AvatarCatalog",
    "idle_url",
    "sprite_name",
    "thumbnail_url",
]

SPRITE = "sprite"
THUMBNAIL_PX = 128  # the long side of a thumbnail
_NO_POOL = "Wav2Lip: the LipSync pool is not running here; showing the sprite avatar"


def sprite_name(palette: str) -> str:
    """The catalog name of the sprite in ``palette``: ``sprite`` or ``sprite:<palette>``."""
    return SPRITE if palette == "default" else f"{SPRITE}:{palette}"


def thumbnail_url(name: str) -> str:
    """Where the Ingress serves ``name``'s thumbnail (relative to the application's root)."""
    return f"/avatars/{name}/thumbnail.jpg"


def idle_url(name: str) -> str:
    """Where the Ingress serves ``name``'s idle loop (relative to the application's root)."""
    return f"/avatars/{name}/idle.mp4"


class AvatarCatalog:
    """Avatars by name: sprite styles always, prepared packs when ``packs`` (see the module)."""

    def __init__(self, settings: Settings, *, packs: bool) -> None:
        self._packs = packs
        self._loaded: OrderedDict[str, AvatarRenderer] = OrderedDict()
        self.reconfigure(settings)

    def reconfigure(self, settings: Settings) -> None:
        """New settings (e.g. Serve's ``user_config``): the sprites are drawn again when next
        used; loaded packs stay (nothing in the avatar settings changes a pack)."""
        self._settings = settings
        self._budget = settings.avatar.max_loaded_mib * 2**20
        for name in [n for n in self._loaded if _is_sprite(n)]:
            del self._loaded[name]
        a = settings.avatar
        self.default, self.default_note = sprite_name(a.palette), ""
        if a.kind == "wav2lip":
            # With the pool running the model is there; without it, say what is missing.
            reason = pack_missing(settings) if self._packs else unavailable_reason(settings)
            reason = reason if reason or self._packs else _NO_POOL
            if reason:
                self.default_note = reason  # why the sprite is shown
            else:
                self.default = a.name

    # -- names -----------------------------------------------------------------

    def resolve(self, name: str | None) -> str:
        """The canonical name of ``name`` (None: the default); ``ValueError`` if unknown."""
        if name is None:
            return self.default
        if not isinstance(name, str):
            raise ValueError(f"avatar name must be a string, got {type(name).__name__}")
        if _is_sprite(name):
            if _palette(name) in PALETTES:
                return sprite_name(_palette(name))
        elif name in self._loaded or self._pack_dir(name) is not None:
            return name
        raise ValueError(f"unknown avatar {name!r}: choose one of {', '.join(self.names())}")

    def names(self) -> list[str]:
        """Every name that may be chosen: the sprite styles, then the packs (sorted)."""
        return [e["name"] for e in self.entries()]

    def entries(self) -> list[dict]:
        """What may be chosen, for each avatar: ``name``, ``kind``, ``width``, ``height``,
        ``thumbnail`` and ``idle`` (their URLs), ``default`` (the avatar of a session that
        names none)."""
        size = self._settings.avatar.size
        found = [(sprite_name(p), "sprite", size, size) for p in PALETTES]
        for path in self._pack_dirs():
            w, h = _pack_size(path)
            if w and h:
                found.append((path.name, "wav2lip", w, h))
        return [
            {"name": n, "kind": k, "width": w, "height": h, "thumbnail": thumbnail_url(n),
             "idle": idle_url(n), "default": n == self.default}
            for n, k, w, h in found
        ]  # fmt: skip

    def _pack_dirs(self) -> list[Path]:
        if not self._packs:
            return []
        root = Path(self._settings.avatars_dir).expanduser()
        if not root.is_dir():
            return []
        return sorted(p for p in root.iterdir() if self._pack_dir(p.name) is not None)

    def _pack_dir(self, name: str) -> Path | None:
        """The directory of pack ``name`` when packs are offered and it has one."""
        if not self._packs or not is_pack_name(name) or name == SPRITE:
            return None
        path = Path(self._settings.avatars_dir).expanduser() / name
        return path if (path / "meta.json").is_file() else None

    # -- renderers -------------------------------------------------------------

    def get(self, name: str | None) -> AvatarRenderer:
        """The renderer of ``name``, from the cache or built and kept (all in this thread)."""
        key = self.resolve(name)
        return self.cached(key) or self.keep(key, self.build(key))

    def cached(self, key: str) -> AvatarRenderer | None:
        """The loaded renderer of canonical name ``key`` (marked as just used), or None."""
        renderer = self._loaded.get(key)
        if renderer is not None:
            self._loaded.move_to_end(key)
        return renderer

    def build(self, key: str) -> AvatarRenderer:
        """A new renderer for canonical name ``key`` (a pack is read from disk: slow)."""
        if _is_sprite(key):
            return make_sprite(self._settings, palette=_palette(key))
        s = self._settings
        silence = silence_from_settings(s.lipsync)
        return Wav2LipAvatar.load(s.avatars_dir, key, fps=s.avatar.fps, silence=silence)

    def recipe(self, key: str) -> dict | None:
        """How canonical name ``key`` is drawn when it is a sprite (``sprite_recipe``, with
        the settings of now), else None."""
        return sprite_recipe(self._settings, _palette(key)) if _is_sprite(key) else None

    def keep(self, key: str, renderer: AvatarRenderer) -> AvatarRenderer:
        """Cache ``renderer`` as ``key``, dropping the least recently used past the budget."""
        self._loaded[key] = renderer
        self._loaded.move_to_end(key)
        while len(self._loaded) > 1 and self.loaded_bytes > self._budget:
            self._loaded.popitem(last=False)
        return renderer

    @property
    def loaded(self) -> dict[str, int]:
        """Loaded avatars, least recently used first, with the bytes each holds."""
        return {name: r.nbytes for name, r in self._loaded.items()}

    @property
    def loaded_bytes(self) -> int:
        return sum(r.nbytes for r in self._loaded.values())

    def info(self, key: str, renderer: AvatarRenderer) -> AvatarInfo:
        """What a session is told about ``renderer`` (canonical name ``key``): the default
        carries the note, a pack the name and the lip-sync model's precision."""
        info = renderer.info()
        if key == self.default and self.default_note:
            info = replace(info, note=self.default_note)
        if info.kind == "wav2lip":
            info = replace(info, name=key, precision=self._settings.lipsync.precision)
        return info

    # -- pictures --------------------------------------------------------------

    def still(self, key: str) -> np.ndarray:
        """Idle frame 0 of ``key``, RGB uint8, without loading it into the cache: a loaded
        renderer draws it, a pack's first frame is read alone, a sprite is drawn and dropped."""
        renderer = self._loaded.get(key)
        if renderer is None and not _is_sprite(key):
            path = self._pack_dir(key)
            if path is None:
                raise ValueError(f"unknown avatar {key!r}")
            frames = np.load(path / "frames.npy", mmap_mode="r", allow_pickle=False)
            frame = np.array(frames[0])
            h, w = (v - v % 2 for v in frame.shape[:2])  # as Wav2LipAvatar crops it
            return frame[:h, :w]
        return (renderer or self.build(key)).idle(1)[0]

    def thumbnail(self, key: str, side: int = THUMBNAIL_PX) -> bytes:
        """A JPEG of ``still(key)`` whose long side is ``side`` pixels."""
        return jpeg_thumbnail(self.still(key), side)


def jpeg_thumbnail(frame: np.ndarray, side: int = THUMBNAIL_PX) -> bytes:
    """RGB ``frame`` scaled so its long side is ``side`` pixels, as JPEG bytes."""
    h, w = frame.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()


def _is_sprite(name: str) -> bool:
    return name == SPRITE or name.startswith(f"{SPRITE}:")


def _palette(sprite: str) -> str:
    """The palette a sprite name draws: ``sprite`` -> default, ``sprite:night`` -> night."""
    return "default" if sprite == SPRITE else sprite[len(SPRITE) + 1 :]


def _pack_size(path: Path) -> tuple[int, int]:
    """A pack's frame width and height from its meta.json (0, 0 if unreadable or of another
    version), even-sided as ``Wav2LipAvatar`` shows it."""
    try:
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("version") != PACK_VERSION:
            return 0, 0
        w, h = (int(v) for v in meta["size"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 0, 0
    return w - w % 2, h - h % 2
