"""The shape of the package: no import cycles, layers that point down, modules of one idea.

Imports are read from the source (module level, under TYPE_CHECKING and inside functions alike),
so a cycle or an upward edge hidden behind a lazy import counts too. How complex one function
may be is ruff's C901 (``pyproject.toml``); the size guard here is loose on purpose: a module
past it is asked whether it still holds one idea, and code is never moved only to pass it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vecstore"
MAX_LINES = 600
ABOVE_THE_STORES = ("vecstore.retrieval", "vecstore.collection", "vecstore.jobs", "vecstore.cli")
ABOVE_THE_STORES += ("vecstore.integrations",)
"""What no module under ``vecstore.adapters`` may import: stores sit below the facade."""
OPENED_BY_THE_LIBRARY = ("vecstore.adapters", "vecstore.retry")
"""What the CLI never imports: it opens stores through the library's own factory."""


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else base)
    # A package's own __init__ is not an edge of its submodules: Python runs it first anyway.
    return {m for m in found if m in known and m != name and m != "vecstore"}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    graph = _graph()
    assert "vecstore.jobs.ingest" in graph["vecstore.collection"]  # the reader sees lazy imports
    assert _cycles(graph) == []


def test_the_checker_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _upward(graph: dict[str, set[str]], layer: str, above: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{name} -> {target}"
        for name, targets in graph.items()
        if _within(name, (layer,))
        for target in targets
        if _within(target, above)
    )


def test_stores_import_nothing_above_them() -> None:
    graph = _graph()
    assert "vecstore.adapters.numpy.keyword" in graph  # the store's parts are read too
    assert _upward(graph, "vecstore.adapters", ABOVE_THE_STORES) == []


def test_the_cli_opens_stores_through_the_library() -> None:
    assert _upward(_graph(), "vecstore.cli", OPENED_BY_THE_LIBRARY) == []


def test_the_layer_check_finds_an_upward_import() -> None:
    graph = {"vecstore.adapters.numpy.keyword": {"vecstore.retrieval", "vecstore.filters"}}
    assert _upward(graph, "vecstore.adapters", ABOVE_THE_STORES) == [
        "vecstore.adapters.numpy.keyword -> vecstore.retrieval"
    ]


def test_modules_hold_one_idea() -> None:
    long = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in _modules().values()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, (
        f"past {MAX_LINES} lines: does each still hold one idea? Split by idea (a store's "
        "parts, a format, a job), never only to pass this count"
    )
