"""Sprites drawn where they are encoded: in the session host's own process.

A sprite frame costs a few tens of microseconds to draw from its atlas, but streaming it from
the Avatar replica cost far more: the frames' bytes through the object store, with the copies
and page faults in both processes (``docs/benchmarks.md``). So a session whose avatar is a
sprite asks the Avatar replica only how it is drawn (``AvatarDeployment.sprite_recipe``, as the
replica draws it now, ``reconfigure`` included) and draws the frames itself, the same ones.

One ``SpriteCache`` per process (``SPRITES``) holds the sprites its sessions draw, by recipe;
the first session to need one builds it in a background thread (~0.3 s) and streams from the
Avatar replica until it is ready, so no turn waits for it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from actors.engines.avatar.base import AvatarRenderer

__all__ = ["SPRITES", "SpriteCache"]

log = logging.getLogger("avatar_chat.session")


class SpriteCache:
    """``recipe -> SpriteAvatar``, built once in a background thread, the last ``capacity``
    recipes kept (about 16 MB each at 384 px). Safe to call from any thread or event loop."""

    def __init__(self, *, capacity: int = 4) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._ready: OrderedDict[tuple, AvatarRenderer] = OrderedDict()
        self._building: dict[tuple, threading.Thread] = {}
        self._failed: set[tuple] = set()
        self._lock = threading.Lock()

    def get(self, recipe: dict) -> AvatarRenderer | None:
        """The sprite drawn by ``recipe`` (``SpriteAvatar``'s keyword arguments) if it is
        built; else None, and it is being built (a recipe that failed to build stays None)."""
        key = _key(recipe)
        with self._lock:
            sprite = self._ready.get(key)
            if sprite is not None:
                self._ready.move_to_end(key)
                return sprite
            if key not in self._building and key not in self._failed:
                thread = threading.Thread(
                    target=self._build, args=(key,), name="sprite-build", daemon=True
                )
                self._building[key] = thread
                thread.start()
        return None

    def wait(self, recipe: dict, timeout: float | None = None) -> AvatarRenderer | None:
        """``get``, waiting up to ``timeout`` seconds for a build to finish (tests, warm-up)."""
        sprite = self.get(recipe)
        if sprite is None:
            with self._lock:
                thread = self._building.get(_key(recipe))
            if thread is not None:
                thread.join(timeout)
            sprite = self.get(recipe)
        return sprite

    def _build(self, key: tuple) -> None:
        from actors.engines.avatar.sprite import SpriteAvatar

        try:
            sprite = SpriteAvatar(**dict(key))
        except Exception:  # a recipe this code cannot draw: the Avatar replica draws it
            log.warning("cannot draw sprite %s here; its frames stay remote", key, exc_info=True)
            with self._lock:
                self._failed.add(key)
                self._building.pop(key, None)
            return
        with self._lock:
            self._ready[key] = sprite
            self._building.pop(key, None)
            while len(self._ready) > self._capacity:
                self._ready.popitem(last=False)

    @property
    def recipes(self) -> list[dict]:
        """The recipes built, least recently used first."""
        with self._lock:
            return [dict(k) for k in self._ready]


def _key(recipe: dict) -> tuple:
    return tuple(sorted(recipe.items()))


SPRITES = SpriteCache()
