"""Every public module declares ``__all__`` and it lists exactly its public definitions."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import taskfactory_contracts
from taskfactory_contracts import names

MODULES = sorted(
    m.name
    for m in pkgutil.iter_modules(taskfactory_contracts.__path__, "taskfactory_contracts.")
    if not m.name.rsplit(".", 1)[1].startswith("_")
)


@pytest.mark.parametrize("module_name", MODULES)
def test_all_lists_public_definitions(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = set(module.__all__)
    assert all(hasattr(module, name) for name in exported)
    defined = {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module_name
    }
    assert defined <= exported, f"public but not in __all__: {sorted(defined - exported)}"


def test_package_reexports_exist() -> None:
    assert all(hasattr(taskfactory_contracts, n) for n in taskfactory_contracts.__all__)
    assert len(set(taskfactory_contracts.__all__)) == len(taskfactory_contracts.__all__)


def test_names_are_unique_constants() -> None:
    constants = {n: getattr(names, n) for n in names.__all__ if isinstance(getattr(names, n), str)}
    collections = {"SEARCH_ATTRIBUTES", "BUILTIN_TASK_TYPES", "LEGACY_TASK_TYPES"}
    assert set(names.__all__) == set(constants) | collections
    task_types = [*names.BUILTIN_TASK_TYPES, names.TASK_TYPE_APPROVAL, *names.LEGACY_TASK_TYPES]
    assert len(set(task_types)) == len(task_types)
    assert set(names.LEGACY_TASK_TYPES.values()) <= set(names.BUILTIN_TASK_TYPES)
    signals_and_queries = [
        names.SIGNAL_EVENT,
        names.UPDATE_APPROVAL,
        names.QUERY_TASKS,
        names.QUERY_STATUS,
    ]
    assert len(set(signals_and_queries)) == len(signals_and_queries)
    activities = [
        names.ACTIVITY_RUN_TASK,
        names.ACTIVITY_PUBLISH_RESULT,
        names.ACTIVITY_PUBLISH_RUN_EVENT,
    ]
    assert len(set(activities)) == len(activities)
