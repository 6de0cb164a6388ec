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
import re
import subprocess
import sys
import typing
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


def test_no_module_over_400_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in sorted(PACKAGE.rglob("*.py"))
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"


# ---------------------------------------------------------------- registries


def test_config_and_tasks_import_no_torch():
    code = "import sys, rnnstudy.config, rnnstudy.tasks; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_task_registry_is_the_one_list_of_tasks():
    from rnnstudy import config
    from rnnstudy.tasks import CORE_TASKS, TASK_CONFIGS, TASK_NAMES, TASKS, DistanceFacts

    assert tuple(TASKS) == tuple(TASK_CONFIGS) == TASK_NAMES
    union = typing.get_args(typing.get_args(config.TaskConfig)[0])
    assert set(union) == set(TASK_CONFIGS.values())
    assert config.format_error.__defaults__[-1] == TASK_NAMES  # tags dropped from error paths
    for name in TASK_NAMES:
        cfg, gen = TASK_CONFIGS[name], TASKS[name]
        assert gen.config is cfg and cfg.model_fields["name"].default == name
        # one module holds the task's config (with its facts) and its generator
        assert cfg.__module__ == gen.__module__ == f"rnnstudy.tasks.{name}"
        assert config.parse_run({"task": {"name": name}}).task.name == name
    assert CORE_TASKS == tuple(n for n in TASK_NAMES if issubclass(TASK_CONFIGS[n], DistanceFacts))


def test_the_study_registry_is_the_one_list_of_studies():
    import rnnstudy.studies as studies
    from rnnstudy.experiment import StudyKind

    assert typing.get_args(StudyKind) == tuple(studies.STUDIES)
    assert set(studies.OUTCOME_STUDIES) <= set(studies.STUDIES)
    for kind in studies.STUDIES:  # the package's table of kinds describes every one
        assert re.search(rf"^\s+{kind}\s", studies.__doc__, re.M), kind


def _string_collections(path: Path) -> list[tuple[int, set[str]]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            strings = {e.value for e in node.elts if isinstance(e, ast.Constant)}
            out.append((node.lineno, {s for s in strings if isinstance(s, str)}))
    return out


def test_no_hand_written_task_or_study_list():
    """What ``grep`` would look for: a list, tuple or set literal naming two or more tasks or
    study kinds, in the package or the tests. Lists come from the registries
    (``rnnstudy.tasks.TASK_NAMES`` / ``CORE_TASKS``, ``rnnstudy.studies.STUDIES``); a table of
    per-task settings (a dict) is checked against the registry where it is used."""
    from rnnstudy.studies import OUTCOME_STUDIES, STUDIES
    from rnnstudy.tasks import TASK_NAMES

    registries = {"rnnstudy/studies/__init__.py": set(OUTCOME_STUDIES)}  # the registry itself
    found = []
    for path in sorted([*PACKAGE.rglob("*.py"), *(ROOT / "tests").glob("*.py")]):
        rel = str(path.relative_to(ROOT))
        for line, strings in _string_collections(path):
            for names in (set(TASK_NAMES), set(STUDIES)):
                hit = strings & names
                if len(hit) >= 2 and hit != registries.get(rel):
                    found.append(f"{rel}:{line}: {sorted(hit)}")
    assert found == [], "\n".join(found)
