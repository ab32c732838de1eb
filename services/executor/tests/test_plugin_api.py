"""The plugin API (``taskfactory_executor.plugin``) is the one surface the worked examples'
task plugins use: they import nothing private and no other taskfactory module."""

from __future__ import annotations

import ast
import inspect
import tomllib
from pathlib import Path

import pytest

from taskfactory_executor import plugin

EXAMPLES = Path(__file__).parents[3] / "examples"
PLUGIN_SOURCES = sorted(EXAMPLES.glob("*/plugin/src/**/*.py"))
PLUGIN_PROJECTS = sorted(EXAMPLES.glob("*/plugin/pyproject.toml"))


def _imports(path: Path) -> list[tuple[str, str | None]]:
    """(module, name) of every import in ``path``; name None for ``import module``."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            found.extend((module, alias.name) for alias in node.names)
    return found


def test_there_are_plugins_to_check() -> None:
    assert len(PLUGIN_SOURCES) >= 2
    assert len(PLUGIN_PROJECTS) >= 2


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_an_example_plugin_imports_only_the_plugin_api_and_nothing_private(path: Path) -> None:
    own = path.relative_to(EXAMPLES).parts[3]  # plugin/src/<package>/...
    for module, name in _imports(path):
        where = f"{path.relative_to(EXAMPLES)}: from {module} import {name}"
        top = module.split(".")[0]
        assert not any(part.startswith("_") for part in module.split(".")[1:]), where
        assert name is None or not name.startswith("_") or name == "__future__", where
        if top.startswith("taskfactory") and top != own:
            assert module == plugin.__name__, f"{where}: import it from {plugin.__name__}"
            assert name in plugin.__all__, f"{where}: not part of the plugin API"


@pytest.mark.parametrize("path", PLUGIN_PROJECTS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_an_example_plugin_registers_in_the_groups_name(path: Path) -> None:
    groups = tomllib.loads(path.read_text())["project"]["entry-points"]
    assert list(groups) == [plugin.TASK_PLUGIN_GROUP]


def test_every_name_of_the_plugin_api_exists_and_is_documented() -> None:
    for name in plugin.__all__:
        value = getattr(plugin, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name} has no docstring"
    assert plugin.TASK_PLUGIN_GROUP == "taskfactory.tasks"
