"""The quickstart notebook's code runs (top-level await, as in Jupyter), minus display calls."""

from __future__ import annotations

import ast
import json
import types
from pathlib import Path

import pytest

pytestmark = pytest.mark.checks
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


async def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    # IPython is not a dependency: stand in for its display helpers.
    display = types.ModuleType("IPython.display")
    for name in ("Audio", "Image", "Video"):
        setattr(display, name, lambda *a, **k: None)
    monkeypatch.setitem(__import__("sys").modules, "IPython", types.ModuleType("IPython"))
    monkeypatch.setitem(__import__("sys").modules, "IPython.display", display)
    scope: dict = {}
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    for source in sources:
        code = compile(source, "<cell>", "exec", flags=flags)
        result = eval(code, scope)  # noqa: S307 - our own notebook
        if result is not None:
            await result
    assert len(scope["pieces"]) == 3
    assert scope["frames"].shape[1:] == (256, 256, 3)
    assert scope["mp4"][4:8] == b"ftyp" and (tmp_path / "notebook_reply.mp4").exists()
