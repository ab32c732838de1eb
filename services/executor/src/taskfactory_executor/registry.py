"""Task types: built-ins and plugins found by entry point, and how each kind is invoked.

A task type is a function taking its params (a pydantic model, or a plain ``dict``) and,
optionally, a :class:`TaskContext`; it returns anything JSON-able (a pydantic model too).
``async def`` functions run on the worker's event loop, plain functions in the thread pool,
and functions marked :func:`cpu_bound` in the process pool, so none blocks the loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import typing
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python
from temporalio.exceptions import ApplicationError

from taskfactory_contracts import TaskInput, names
from taskfactory_runtime.logging import get_logger

__all__ = [
    "TaskContext",
    "TaskKind",
    "TaskRegistry",
    "TaskType",
    "cpu_bound",
    "task_type",
]

log = get_logger(__name__)

TaskKind = Literal["async", "sync", "cpu-bound"]
_KIND_ATTRIBUTE = "__taskfactory_kind__"
F = TypeVar("F", bound=Callable[..., Any])


def cpu_bound(function: F) -> F:
    """Mark a sync task function to run in the process pool (it gets no context there)."""
    setattr(function, _KIND_ATTRIBUTE, "cpu-bound")
    return function


@dataclass(frozen=True)
class TaskContext:
    """What a running task may know and do besides its params."""

    task: TaskInput
    attempt: int = 1
    #: The details of the last heartbeat of the previous attempt (empty on a fresh start).
    heartbeat_details: tuple[Any, ...] = ()
    _heartbeat: Callable[..., None] = field(default=lambda *_: None, repr=False)
    resources: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def idempotency_key(self) -> str:
        """The key every attempt of this task shares (send it to side-effecting services)."""
        return self.task.idempotency_key

    @property
    def checkpoint(self) -> Any:
        """The progress the previous attempt last reported, or ``None``."""
        return self.heartbeat_details[0] if self.heartbeat_details else None

    def heartbeat(self, *details: Any) -> None:
        """Report liveness and progress (from the event loop or from a pool thread)."""
        self._heartbeat(*details)

    def resource(self, name: str) -> Any:
        """A shared client the worker provides: ``http`` (an egress-policed
        :class:`~taskfactory_runtime.egress.Egress`), ``kafka``."""
        try:
            return self.resources[name]
        except KeyError:
            raise ApplicationError(
                f"task {self.task.task_id}: the worker provides no {name!r} resource "
                f"(has: {', '.join(sorted(self.resources)) or 'none'})",
                type="MissingResource",
                non_retryable=True,
            ) from None


@dataclass(frozen=True)
class TaskType:
    """One registered task type and how to call it."""

    name: str
    function: Callable[..., Any]
    kind: TaskKind
    input_model: type[BaseModel] | None
    wants_context: bool
    origin: str = "builtin"

    def parse(self, params: Mapping[str, Any], where: str) -> Any:
        """The function's first argument from the task's params; invalid → non-retryable."""
        if self.input_model is None:
            return dict(params)
        try:
            return self.input_model.model_validate(dict(params))
        except ValidationError as exc:
            raise ApplicationError(
                f"{where}: invalid params for task type {self.name!r}: "
                + "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or '<params>'}: {e['msg']}"
                    for e in exc.errors()
                ),
                type="InvalidTaskParams",
                non_retryable=True,
            ) from None


def task_type(name: str, function: Callable[..., Any], *, origin: str = "builtin") -> TaskType:
    """Inspect ``function``: its kind, its input model, whether it takes a context."""
    if not callable(function):
        raise TypeError(f"task type {name!r} ({origin}) is not callable: {function!r}")
    params = list(inspect.signature(function).parameters.values())
    if not 1 <= len(params) <= 2:
        raise TypeError(
            f"task type {name!r} ({origin}) must take (params) or (params, context), "
            f"not {len(params)} parameters"
        )
    hints = typing.get_type_hints(function)
    first = hints.get(params[0].name)
    model = first if isinstance(first, type) and issubclass(first, BaseModel) else None
    kind: TaskKind
    if inspect.iscoroutinefunction(function):
        kind = "async"
    else:
        kind = getattr(function, _KIND_ATTRIBUTE, "sync")
    wants_context = len(params) == 2
    if kind == "cpu-bound" and wants_context:
        raise TypeError(f"cpu-bound task type {name!r} ({origin}) cannot take a context")
    return TaskType(name, function, kind, model, wants_context, origin)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return to_jsonable_python(value)


@dataclass
class TaskRegistry:
    """Task types by name, and the pools sync and cpu-bound ones run in."""

    types: dict[str, TaskType]
    threads: Executor | None = None
    processes: Executor | None = None

    @classmethod
    def discover(
        cls,
        builtins: Iterable[TaskType],
        *,
        group: str = names.TASK_PLUGIN_GROUP,
        threads: Executor | None = None,
        processes: Executor | None = None,
    ) -> TaskRegistry:
        """Built-ins plus each plugin of entry-point ``group``; none shadows a built-in."""
        types = {t.name: t for t in builtins}
        for ep in entry_points(group=group):
            loaded = _load(ep)
            if loaded is None:
                continue
            existing = types.get(ep.name)
            if existing is not None:
                if existing.function is not loaded.function:
                    log.error(
                        "task plugin ignored: the name is taken",
                        task_type=ep.name,
                        plugin=ep.value,
                        taken_by=existing.origin,
                    )
                continue
            types[ep.name] = loaded
        return cls(types, threads=threads, processes=processes)

    def get(self, task: TaskInput) -> TaskType:
        """The type of ``task``; unknown → non-retryable error naming the installed ones."""
        spec = self.types.get(task.type)
        if spec is None:
            raise ApplicationError(
                f"unknown task type {task.type!r} (task {task.task_id} of run {task.run_id}); "
                f"installed: {', '.join(sorted(self.types))}",
                type="UnknownTaskType",
                non_retryable=True,
            )
        return spec

    async def invoke(self, spec: TaskType, context: TaskContext) -> Any:
        """Run one task with its kind's executor; returns its output as JSON-able data."""
        where = f"task {context.task.task_id} of run {context.task.run_id}"
        arg = spec.parse(context.task.params, where)
        args = (arg, context) if spec.wants_context else (arg,)
        loop = asyncio.get_running_loop()
        if spec.kind == "async":
            output = await spec.function(*args)
        elif spec.kind == "sync":
            # copy_context keeps the activity context (and trace context) in the thread.
            call = functools.partial(contextvars.copy_context().run, spec.function, *args)
            output = await loop.run_in_executor(self.threads, call)
        else:
            if self.processes is None:
                raise ApplicationError(
                    f"{where}: cpu-bound task type {spec.name!r} needs a process pool "
                    "(TASKFACTORY_EXECUTOR__PROCESS_POOL_SIZE is 0)",
                    type="NoProcessPool",
                    non_retryable=True,
                )
            output = await loop.run_in_executor(self.processes, spec.function, *args)
        return _jsonable(output)


def _load(ep: EntryPoint) -> TaskType | None:
    origin = f"entry point {ep.name} = {ep.value}"
    if ep.dist is not None:
        origin += f" ({ep.dist.name} {ep.dist.version})"
    try:
        return task_type(ep.name, ep.load(), origin=origin)
    except Exception as exc:  # a broken plugin must not take the worker down
        log.error("task plugin not loaded", task_type=ep.name, plugin=ep.value, error=repr(exc))
        return None
