"""The package layers: imports run downward only, and nothing imports itself in a circle.

    serve_app  ->  actors  ->  models, config        (config imports nothing of these)
    actors.cli is the top of actors: no other actors module imports it.

Every import counts, the lazy ones inside functions too: a cycle broken by a deferred import
is still a cycle in the design. An AST walk, so no module has to be imported to be checked.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("serve_app", "actors", "models", "config")
# package -> the packages it may import (besides itself)
ALLOWED = {
    "serve_app": {"actors", "models", "config"},
    "actors": {"models", "config"},
    "models": {"config"},
    "config": set(),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (``from a.b import c`` counts ``a.b.c`` when
    that is a module, else ``a.b``)."""
    files = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    targets.add(sub if sub in files else node.module)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def test_imports_run_down_the_layers() -> None:
    upward = []
    for module, targets in import_graph().items():
        top = module.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other != top and other not in ALLOWED[top]:
                upward.append(f"{module} -> {target}")
            if target.startswith("actors.cli") and not module.startswith("actors.cli"):
                upward.append(f"{module} -> {target} (the CLI is the top of actors)")
    assert not upward, "imports against the layers:\n" + "\n".join(sorted(upward))


def test_no_import_cycles() -> None:
    graph = import_graph()
    # A package's __init__ re-exporting its modules is not a cycle through the package:
    # drop edges from a package to modules inside it.
    for module, targets in graph.items():
        graph[module] = {t for t in targets if not t.startswith(module + ".")}
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_graph_sees_the_imports_it_checks() -> None:
    graph = import_graph()  # guards the guard: a parser that saw nothing would pass vacuously
    assert "actors.core.messages" in graph["actors.pipeline.turn"]
    assert any(t.startswith("actors.") for t in graph["serve_app.deployments.tts"])
