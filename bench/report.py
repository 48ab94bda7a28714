"""Write one benchmark's figures into a marked section of docs/benchmarks.md.

A section is the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``; writing it
replaces only that text, so several benchmarks share the file. A missing file is created with
a title and a line about the machine; a missing section is appended.
"""

from __future__ import annotations

import fcntl
import math
import os
import platform
import statistics
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def pct(values: list[float], q: float) -> float:
    """Median for q=0.5, else nearest rank; NaN values are dropped; NaN for no values."""
    values = sorted(v for v in values if v == v)
    if not values:
        return float("nan")
    if q == 0.5:
        return statistics.median(values)
    return values[max(0, math.ceil(q * len(values)) - 1)]


def fmt(value: float, digits: int = 0) -> str:
    """A table cell: the value rounded, or a dash for NaN."""
    return "—" if value != value else f"{value:.{digits}f}"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_line() -> str:
    """One line on the machine the figures come from."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"Machine: {cores} cores, {cpu_model()}, Python {platform.python_version()}."


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` (cells are str()-ed)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name: str, body: str, *, path: Path = DOC) -> Path:
    """Replace (or append) section ``name`` of ``path`` with ``body``; returns the path."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"section name must be letters, digits, - or _, got {name!r}")
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Other benchmarks may write their sections at the same time: read-modify-write under a lock.
    with open(path, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.seek(0)
            text = f.read() or f"# Benchmarks\n\n{machine_line()}\n"
            i, j = text.find(start), text.find(end)
            if i >= 0 and j > i:
                text = text[:i] + block + text[j + len(end) :]
            else:
                text = text.rstrip("\n") + "\n\n" + block + "\n"
            f.seek(0)
            f.truncate()
            f.write(text)
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    return path
