"""Writing the CLI's output files: check first, then replace atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_output", "check_writable"]


def check_writable(path: Path) -> None:
    """Fail early, before any work, if ``path`` cannot be written."""
    path = path.expanduser()
    if path.is_dir():
        raise OSError(f"{path} is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OSError(f"directory {parent} does not exist")
    try:
        if path.exists():  # opened for append and closed: its content is untouched
            with open(path, "ab"):
                pass
        else:  # probe the directory without leaving a file behind
            with tempfile.TemporaryFile(dir=parent):
                pass
    except OSError as exc:
        raise OSError(f"cannot write {path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def atomic_output(path: Path):
    """A binary file that becomes ``path`` only if the block ends without an exception.

    A failed or interrupted render leaves neither a partial file nor a clobbered old one.
    """
    path = path.expanduser()
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(partial, "wb") as out:
            yield out
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
