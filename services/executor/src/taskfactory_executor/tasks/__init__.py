"""Built-in task types, one module each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from taskfactory_contracts import names
from taskfactory_executor.registry import TaskType, task_type
from taskfactory_executor.tasks.echo import echo
from taskfactory_executor.tasks.http_request import http_request
from taskfactory_executor.tasks.kafka_publish import kafka_publish
from taskfactory_executor.tasks.sleep import sleep

__all__ = ["builtin_tasks"]


def builtin_tasks() -> list[TaskType]:
    """The built-in task types, under their names and their old spellings.

    A definition file with an old spelling (``names.LEGACY_TASK_TYPES``) is refused when it is
    loaded, but a run started before carries its definition in its workflow input and goes on
    asking for the old name: the executor keeps running it so those runs finish.
    """
    functions: dict[str, Callable[..., Any]] = {
        names.TASK_TYPE_ECHO: echo,
        names.TASK_TYPE_SLEEP: sleep,
        names.TASK_TYPE_HTTP: http_request,
        names.TASK_TYPE_KAFKA_PUBLISH: kafka_publish,
    }
    functions.update({old: functions[new] for old, new in names.LEGACY_TASK_TYPES.items()})
    return [task_type(name, function) for name, function in functions.items()]
