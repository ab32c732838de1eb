"""Built-in task types, one module each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from taskfactory_executor.registry import TaskType, task_type
from taskfactory_executor.tasks.echo import echo
from taskfactory_executor.tasks.http_request import http_request
from taskfactory_executor.tasks.kafka_publish import kafka_publish
from taskfactory_executor.tasks.sleep import sleep

__all__ = ["ALIASES", "builtin_tasks"]

#: The names ``taskfactory_contracts.BUILTIN_TASK_TYPES`` uses for the same built-ins.
ALIASES = {"http": "http.request", "kafka_publish": "kafka.publish"}


def builtin_tasks() -> list[TaskType]:
    """The built-in task types (under their names and their aliases)."""
    functions: dict[str, Callable[..., Any]] = {
        "echo": echo,
        "sleep": sleep,
        "http.request": http_request,
        "kafka.publish": kafka_publish,
    }
    functions.update({alias: functions[name] for alias, name in ALIASES.items()})
    return [task_type(name, function) for name, function in functions.items()]
