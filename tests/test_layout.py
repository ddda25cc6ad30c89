"""The package's shape: no import circles, stages that import no other stage for a type, and a
command line that nothing imports."""

from __future__ import annotations

import ast
from pathlib import Path

import rtmatte

ROOT = Path(rtmatte.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Every rtmatte module ``path`` imports, deferred imports inside functions included.
    ``from rtmatte.a import b`` is an import of module ``rtmatte.a.b`` where that exists, else
    of ``rtmatte.a``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
    return {name for name in found if name in MODULES} - {_module_name(path)}


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read():
    assert "rtmatte.run.offline" in GRAPH["rtmatte.api"]
    assert "rtmatte.types" in GRAPH["rtmatte.post.chain"]


def test_no_import_circle_anywhere():
    assert _cycles() == []


def test_post_and_compose_import_no_other_stage():
    for name, imported in GRAPH.items():
        if name.startswith(("rtmatte.post", "rtmatte.compose")):
            stray = {m for m in imported if m.startswith(("rtmatte.matting", "rtmatte.run",
                                                          "rtmatte.sinks", "rtmatte.cli"))}
            assert not stray, (name, stray)


def test_nothing_imports_the_command_line():
    for name, imported in GRAPH.items():
        if not name.startswith("rtmatte.cli"):
            assert not {m for m in imported if m.startswith("rtmatte.cli")}, name
