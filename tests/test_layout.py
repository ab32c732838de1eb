"""The layout's rules, over every source module of the libraries, services and local stack.

Read from the source with ``ast`` (nothing is imported): no import circle between modules
(a function-level import counts too: deferring an import hides a circle, it does not remove
it; only ``if TYPE_CHECKING:`` imports are left out, they never run), no service importing
another service, no library importing a service, and no module over 400 lines.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SOURCES = sorted(
    [*ROOT.glob("libs/*/src"), *ROOT.glob("services/*/src"), ROOT / "deploy/local/src"]
)
MAX_LINES = 400
LIBRARIES = {"taskfactory_contracts", "taskfactory_runtime"}
SERVICES = {"taskfactory_ingress", "taskfactory_orchestrator", "taskfactory_executor"}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for src in SOURCES:
        for path in sorted(src.rglob("*.py")):
            parts = path.relative_to(src).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            yield from (n for b in child.orelse for n in _import_nodes_of(b))
            continue
        yield from _import_nodes_of(child)


def _import_nodes_of(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from _import_nodes(node)


def _imports(module: str, path: Path) -> set[str]:
    """The project modules ``module`` imports (a ``from`` of a submodule names it)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import submodule`` imports the submodule; any other name, pkg itself.
            named = [f"{base}.{alias.name}" for alias in node.names]
            candidates = [c if c in MODULES else base for c in named]
        for name in candidates:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
    return targets


def _graph() -> dict[str, set[str]]:
    return {module: _imports(module, path) for module, path in MODULES.items()}


def test_the_sources_are_found() -> None:
    tops = {name.split(".")[0] for name in MODULES}
    assert tops == LIBRARIES | SERVICES | {"taskfactory_stack"}


def test_no_import_circle() -> None:
    try:
        graphlib.TopologicalSorter(_graph()).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


def test_services_meet_only_in_the_libraries() -> None:
    crossing = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if (top := module.split(".")[0]) in SERVICES | LIBRARIES
        and (other := target.split(".")[0]) in SERVICES
        and other != top
    ]
    assert crossing == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_at_most_400_lines(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(ROOT)}: {lines} lines"
