"""The package's shape (issue 22): no import circle, no module over 400 lines, and the task and
study registries are the only lists of tasks and studies.

The import graph is read with ``ast`` from the source of every module under ``rnnstudy/``. An
edge ``a -> b`` is an ``import b`` / ``from b import x`` in ``a`` (``from b import x`` where
``b.x`` is a module is an edge to ``b.x``), at module level **or inside a function**: a deferred
import only postpones the circle to the first call, it does not remove it. Imports under
``if TYPE_CHECKING:`` are left out (they never run). Importing ``a.b.c`` also runs the package
``a.b``'s ``__init__``; that implicit edge is left out too, so a package may re-export its
submodules.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rnnstudy"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imported(path: Path, modules: set[str]) -> set[str]:
    """The rnnstudy modules ``path`` imports (see the module docstring for what counts)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    todo: list[ast.AST] = [ast.parse(path.read_text(), str(path))]
    while todo:
        for node in ast.iter_child_nodes(todo.pop()):
            if _type_checking(node):
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
            todo.append(node)
    out = set()
    for m in found:
        while m and m not in modules:
            m = m.rpartition(".")[0]
        if m and m != name:
            out.add(m)
    return out


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imported(p, set(paths)) for name, p in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), and self-loops."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_reader_sees_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_reader_counts_imports_inside_functions():
    graph = import_graph()
    # rnnstudy.parallel imports rnnstudy.mlflow_retry inside a function, rnnstudy.mlflow_retry
    # imports rnnstudy.tracking at the top: both are edges
    assert "rnnstudy.mlflow_retry" in graph["rnnstudy.parallel"]
    assert "rnnstudy.tracking" in graph["rnnstudy.mlflow_retry"]


def test_no_import_circle_in_the_package():
    assert cycles(import_graph()) == []
