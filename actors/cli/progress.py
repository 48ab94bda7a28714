"""A progress bar for rendering replies: seconds of media produced so far."""

from __future__ import annotations

import sys

from tqdm import tqdm


class RenderProgress:
    """Shows sentences and media seconds as they are rendered (to stderr)."""

    def __init__(self, *, enabled: bool = True) -> None:
        self._bar = tqdm(
            total=None,
            unit="s",
            desc="rendering",
            bar_format="{desc}: {n:.1f} s of media{postfix} [{elapsed}]",
            disable=not enabled,
            file=sys.stderr,
            leave=False,
        )
        self._sentences = 0
        self._chars = 0

    def text(self, delta: str) -> None:
        self._chars += len(delta)
        self._refresh()

    def sentence(self, duration_s: float) -> None:
        self._sentences += 1
        self._bar.update(duration_s)
        self._refresh()

    def _refresh(self) -> None:
        self._bar.set_postfix_str(f"{self._sentences} sentences, {self._chars} chars", refresh=True)

    def close(self) -> None:
        self._bar.close()
