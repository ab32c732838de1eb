"""The orchestrator's own errors (under :class:`~taskfactory_contracts.errors.TaskFactoryError`):
what the CLI prints as one line and the admin API maps to a status."""

from __future__ import annotations

from taskfactory_contracts.errors import TaskFactoryError, TransientError

__all__ = ["Busy", "NotOurs", "NotRunning", "UnsafeValue"]


class NotOurs(TaskFactoryError, LookupError):
    """No run or schedule of this taskfactory has that id (404)."""


class NotRunning(TaskFactoryError):
    """The run has closed: it takes no decision and no cancellation (409)."""


class UnsafeValue(TaskFactoryError, ValueError):
    """A filter value that cannot go into a visibility query (422; the CLI exits 2)."""


class Busy(TransientError):
    """A bounded resource (check slots, time) is exhausted; the caller may retry later."""

    reason = "busy"

    def __init__(self, message: str, *, status: int = 503) -> None:
        super().__init__(message)
        self.status = status
