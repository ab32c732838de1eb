"""Every public exception class the project defines derives from ``TaskFactoryError``.

The CLI prints any ``TaskFactoryError`` as one line and the services classify them by
``retryable``/``reason``; an error outside the root would escape both. This walks every module
of every package (libraries, services, the local stack) and checks each exception class it
defines. Private control-flow exceptions (a leading ``_``) never leave their module and are
exempt.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

from taskfactory_contracts.errors import TaskFactoryError

PACKAGES = (
    "taskfactory_contracts",
    "taskfactory_runtime",
    "taskfactory_ingress",
    "taskfactory_orchestrator",
    "taskfactory_executor",
    "taskfactory_stack",
)


def _modules(package: str) -> list[ModuleType]:
    root = importlib.import_module(package)
    found = [root]
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # running it is its job; importing it would start the service
        found.append(importlib.import_module(info.name))
    return found


def _exceptions(package: str) -> list[type[BaseException]]:
    return [
        cls
        for module in _modules(package)
        for name, cls in vars(module).items()
        if inspect.isclass(cls)
        and issubclass(cls, BaseException)
        and cls.__module__ == module.__name__
        and not name.startswith("_")
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_exception_derives_from_the_root(package: str) -> None:
    outside = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _exceptions(package)
        if not issubclass(cls, TaskFactoryError)
    ]
    assert outside == []


def test_the_walk_sees_the_errors_modules() -> None:
    seen = {cls.__name__ for package in PACKAGES for cls in _exceptions(package)}
    # One per package that defines errors, so a walk that found nothing cannot pass.
    assert {"ExpressionError", "LeaseExpired", "Busy", "StackError", "EgressRefused"} <= seen


@pytest.mark.parametrize(
    ("module", "name", "stdlib_base"),
    [
        ("taskfactory_contracts.errors", "ExpressionError", ValueError),
        ("taskfactory_contracts.errors", "NotStrictJsonError", ValueError),
        ("taskfactory_runtime.errors", "NotUtf8", ValueError),
        ("taskfactory_orchestrator.errors", "NotOurs", LookupError),
        ("taskfactory_orchestrator.errors", "UnsafeValue", ValueError),
    ],
)
def test_callers_catching_the_stdlib_base_still_catch_it(
    module: str, name: str, stdlib_base: type[Exception]
) -> None:
    assert issubclass(getattr(importlib.import_module(module), name), stdlib_base)
