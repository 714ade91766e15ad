"""The package's layering, read from its source with ``ast`` (nothing is imported):

- no import cycle among its modules, counting imports inside functions too;
- a run's code (``pipeline``) never reaches the ``cartum-roapp`` tool's package (``setup``);
- the state database owns its schema: ``state`` imports nothing of the HTTP layer;
- no environment variable is read when a module is imported;
- every declared entity has its loader, its load step and its quality rules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "cartum_roapp_sync"
ROOT = Path(__file__).resolve().parents[1] / "include" / PACKAGE


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(name: str, path: Path) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its body (not under
    ``if TYPE_CHECKING``). ``from . import x`` counts as importing the submodule x."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {id(n) for block in ast.walk(tree) if _type_checking_block(block) for n in ast.walk(block)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in MODULES else origin
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_import_reader_sees_real_edges():
    # A reader that found nothing would make every check below pass.
    assert f"{PACKAGE}.state.tables" in GRAPH[f"{PACKAGE}.ratelimit"]
    assert f"{PACKAGE}.pipeline.load" in GRAPH[f"{PACKAGE}.pipeline.steps"]
    assert f"{PACKAGE}.setup_checks" in GRAPH[f"{PACKAGE}.pipeline.steps"], "function-level imports count"
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_among_the_package_modules():
    assert _cycles(GRAPH) == []


def test_a_run_never_imports_the_setup_tool():
    for name in MODULES:
        if name.startswith(f"{PACKAGE}.pipeline") or name in (f"{PACKAGE}.dags", f"{PACKAGE}.setup_checks"):
            reached = sorted(m for m in _reachable(name) | {name} if m.startswith(f"{PACKAGE}.setup."))
            assert reached == [], f"{name} reaches the cartum-roapp tool's modules {reached}"


def test_the_state_database_imports_nothing_of_the_http_layer():
    http = {f"{PACKAGE}.{m}" for m in ("transport", "ratelimit", "cartum.client", "roapp.client", "cartum.hook",
                                         "roapp.hook")}
    for name in MODULES:
        if name.startswith(f"{PACKAGE}.state"):
            assert not (_reachable(name) & http), f"{name} reaches {sorted(_reachable(name) & http)}"


def test_no_sandbox_module_in_the_package():
    assert not [name for name in MODULES if "sandbox" in name]


def _environment_reads_at_import(tree: ast.Module) -> list[int]:
    """Line numbers of os.environ / os.getenv / environ.get outside any function body."""
    lines = []

    def walk(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return  # runs when called, not when imported
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
            lines.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            walk(child)

    walk(tree)
    return lines


def test_no_environment_variable_is_read_at_import_time():
    found = {}
    for name, path in MODULES.items():
        lines = _environment_reads_at_import(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            found[name] = lines
    assert found == {}
    sample = ast.parse("import os\nX = os.environ.get('A')\ndef f():\n    return os.getenv('B')\n")
    assert _environment_reads_at_import(sample) == [2]


def test_every_entity_has_a_loader_a_load_step_and_quality_rules():
    from cartum_roapp_sync.entities import ENTITIES, RULE_KINDS
    from cartum_roapp_sync.pipeline.graph import LOAD_STEPS
    from cartum_roapp_sync.pipeline.load import LOADERS, missing_loaders
    from cartum_roapp_sync.pipeline.rundata import SOURCES

    assert missing_loaders() == []
    assert LOAD_STEPS == tuple(f"load_{e.name}" for e in ENTITIES)
    for entity in ENTITIES:
        assert LOADERS[entity.name].entity is entity
        assert entity.rules and all(rule.kind in RULE_KINDS for rule in entity.rules), entity.name
        assert set(entity.hashed) <= set(entity.columns) and entity.key in entity.columns
        if entity.cursor is not None:
            assert entity.cursor.source in SOURCES


def test_a_missing_loader_is_reported(monkeypatch):
    from cartum_roapp_sync.pipeline import load

    monkeypatch.delitem(load.LOADERS, "products")
    assert load.missing_loaders() == ["products"]


@pytest.mark.parametrize("entity_name", ["clients", "products", "orders"])
def test_records_are_typed_from_the_declaration_with_nan_turned_into_none(entity_name):
    from cartum_roapp_sync.entities import BY_NAME

    entity = BY_NAME[entity_name]
    row = {column: float("nan") for column in entity.columns}
    record = entity.record.from_row({**row, "unknown": 1})
    assert record.as_dict() == {column: None for column in entity.columns}
    with pytest.raises(AttributeError):
        record.unknown  # noqa: B018
