"""The import graph of ``aifap`` follows DESIGN.md: core imports nothing of ours, no cycles.

Every module is parsed (imports inside functions count, relative imports are resolved).
A node is a subpackage (``aifap/live/`` → ``live``) or a top-level module
(``aifap/db.py`` → ``db``); ``aifap/__init__.py`` (lazy public names) is not a node.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import aifap

ROOT = Path(aifap.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = ["aifap", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path) -> set[str]:
    """Return the absolute names of every ``aifap`` module or name ``path`` imports."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return _imports_of(path.read_text(encoding="utf-8"), package)


def _imports_of(source: str, package: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            found.add(source)
            # ``from aifap import db`` imports the module aifap.db
            found.update(f"{source}.{alias.name}" for alias in node.names if alias.name != "*")
    return {name for name in found if name == "aifap" or name.startswith("aifap.")}


def _node(name: str) -> str | None:
    """Return the node of a module name: its first part under ``aifap``, if it is ours."""
    parts = name.split(".")
    if len(parts) < 2:
        return None
    head = parts[1]
    if (ROOT / head).is_dir() or (ROOT / f"{head}.py").is_file():
        return head
    return None  # a name defined in aifap/__init__.py


def _modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in _modules():
        source = _node(_module_name(path))
        if source is None:
            continue
        for name in _imported(path):
            target = _node(name)
            if target is not None and target != source:
                edges[source].add(target)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_subpackages_and_top_level_modules():
    edges = _graph()
    assert "db" in edges["watch"]
    assert "core" in edges["live"]
    assert "live" in edges["deploy"]


def test_no_import_cycle_between_subpackages():
    edges = _graph()
    cycles = _cycles(edges)
    detail = {
        " ↔ ".join(cycle): {v: sorted(edges[v] & set(cycle)) for v in cycle} for cycle in cycles
    }
    assert not cycles, f"import cycles between aifap's subpackages: {detail}"


def test_core_imports_nothing_else_of_ours():
    offenders = {
        f"{path.relative_to(ROOT.parent)}: {name}"
        for path in (ROOT / "core").rglob("*.py")
        for name in _imported(path)
        if name != "aifap.core" and not name.startswith("aifap.core.")
    }
    assert not offenders, sorted(offenders)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from . import planner", {"aifap.core", "aifap.core.planner"}),
        ("from ..live.clock import Clock", {"aifap.live.clock", "aifap.live.clock.Clock"}),
        ("def f():\n    import aifap.db\n", {"aifap.db"}),
    ],
)
def test_imports_inside_functions_and_relative_imports_are_resolved(source, expected):
    assert _imports_of(source, "aifap.core") == expected
