"""The package's shape: no import circles, stages that import no other stage for a type, and a
command line that nothing imports."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

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


def test_the_server_starts_from_the_command_line_only():
    """``rtmatte serve`` is the server's one way in: the server package has no entry point of its
    own, and its flags leave the settings flags (``--bg``, ``--preset``, ``--config``) to the
    command line's one table, so they mean what they mean for every other subcommand."""
    from rtmatte.server import command

    assert "rtmatte.server.__main__" not in MODULES
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    settings_flags = ["--bg", "blur", "--preset", "fast", "--config", "a.toml"]
    assert parser.parse_known_args(settings_flags)[1] == settings_flags


def test_the_server_has_one_router_per_resource_and_typed_answers():
    """app.py only assembles: no route is declared there, each resource's are a router in a
    module of rtmatte/server/routes/; and every route answering JSON declares a pydantic model,
    which the schema names, for its answer and for its refusals. (Building the app starts the
    job queue's idle threads; no model is loaded.)"""
    pytest.importorskip("fastapi")
    from rtmatte.server.app import create_app
    from rtmatte.server.config import ServerConfig

    verbs = {"get", "post", "put", "patch", "delete", "head", "options", "api_route", "route"}
    for node in ast.walk(ast.parse((ROOT / "server" / "app.py").read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                call = decorator.func if isinstance(decorator, ast.Call) else decorator
                assert not (isinstance(call, ast.Attribute) and call.attr in verbs), node.name
    resources = {p.stem for p in (ROOT / "server" / "routes").glob("*.py")}
    assert {"pictures", "jobs", "live", "docs"} <= resources, resources
    operations = 0
    for path, methods in create_app(ServerConfig(token="t" * 24)).openapi()["paths"].items():
        for method, operation in methods.items():
            operations += 1
            for code, answer in operation["responses"].items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if schema is None:  # a picture, a video, a stream, or 204
                    assert code in ("200", "204"), (method, path, code)
                    continue
                named = schema.get("$ref") or schema.get("items", {}).get("$ref")
                assert named, (method, path, code, schema)
                if not code.startswith("2"):
                    assert named.endswith("/Problem"), (method, path, code)
    assert operations >= 15


def test_benches_measure_apart_from_their_reports():
    """The model bench measures (bench/modelbench.py) and its table is written apart
    (bench/modelreport.py); the bench package takes its flags from the command line, never
    the other way round."""
    assert "rtmatte.bench.modelreport" not in GRAPH["rtmatte.bench.modelbench"]
    assert "rtmatte.bench.modelbench" in GRAPH["rtmatte.bench.modelreport"]
    assert "rtmatte.bench.pipeline" in GRAPH["rtmatte.cli.bench"]


def test_sources_and_sinks_import_no_driver():
    """Stages hand frames over through rtmatte/handover.py, never through a driver's module."""
    for name, imported in GRAPH.items():
        if name.startswith(("rtmatte.sources", "rtmatte.sinks")):
            assert not {m for m in imported if m.startswith("rtmatte.run")}, name


#: who may build the chain: the engine, the background switch it owns, build_post itself, and
#: the evaluation harness, which compares variants on purpose
_CHAIN_BUILDERS = ("rtmatte.run.engine", "rtmatte.compose.background_switch",
                   "rtmatte.post.chain", "rtmatte.evaluation")


def test_only_the_engine_builds_the_chain():
    """No module outside the engine calls Compositor, PostChain, Matter or build_post."""
    built = {"Compositor", "PostChain", "Matter", "build_post"}
    for name, path in MODULES.items():
        if name.startswith(_CHAIN_BUILDERS):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                called = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                assert called not in built, f"{name}:{node.lineno} builds {called}"


def test_file_and_live_runs_report_one_type_of_figures():
    """A caller reads frames, seconds, fps, backend and stages the same way from ``api.process``
    and from a live run: both results are :class:`~rtmatte.run.figures.RunFigures`, and neither
    declares those figures again."""
    from rtmatte.run.figures import RunFigures
    from rtmatte.run.live import LiveResult
    from rtmatte.run.offline import JobResult

    shared = {"input", "output", "kind", "frames", "seconds", "backend", "downsample_ratio",
              "stages", "fps"}
    assert shared <= set(dir(RunFigures)) | set(RunFigures.__dataclass_fields__)
    for result in (JobResult, LiveResult):
        assert issubclass(result, RunFigures), result
        own = set(vars(result)) | set(vars(result).get("__annotations__", {}))
        assert not (shared - {"kind"}) & own, result  # a live run's kind has a default
