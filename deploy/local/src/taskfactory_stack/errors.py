"""The local stack's errors, under :class:`~taskfactory_contracts.errors.TaskFactoryError`."""

from __future__ import annotations

from taskfactory_contracts.errors import TaskFactoryError

__all__ = ["BadJson", "StackError"]


class StackError(TaskFactoryError):
    """A one-line, user-facing reason the stack cannot do what was asked."""

    reason = "stack"


class BadJson(TaskFactoryError):
    """A request body that is not JSON: the stand-in answers 400 with this text."""

    reason = "bad_json"
