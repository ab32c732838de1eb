"""Built-in task types, one module each; the registry maps a type name to its function."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from taskfactory_executor.tasks.echo import echo

__all__ = ["BUILTIN_TASKS", "TaskFunction"]

#: A task type: JSON params in, JSON-able output out.
TaskFunction = Callable[[Mapping[str, Any]], Awaitable[Any]]

BUILTIN_TASKS: dict[str, TaskFunction] = {"echo": echo}
