"""The ingress's errors, under :class:`~taskfactory_contracts.errors.TaskFactoryError`."""

from __future__ import annotations

from taskfactory_contracts.errors import TaskFactoryError

__all__ = ["DeadLetterFailedError", "FilterTimeoutError", "RejectedByTemporal"]


class RejectedByTemporal(TaskFactoryError):
    """Temporal refused the start as invalid; the record goes to the dead-letter topic."""

    reason = "rejected"


class FilterTimeoutError(TaskFactoryError):
    """The trigger filters did not finish within their time budget for this event."""

    reason = "filter_timeout"


class DeadLetterFailedError(TaskFactoryError):
    """The dead-letter topic refused the record and its stub for good."""

    reason = "dead_letter_failed"
