"""Egress errors: whether a retry may help, and the ``ApplicationError`` type each maps to."""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ApplicationError

from taskfactory_contracts import TaskFactoryError

__all__ = [
    "EgressError",
    "EgressRefused",
    "EgressTimeout",
    "EgressUnreachable",
    "InvalidRequest",
    "ResponseTooLarge",
    "application_error",
]


class EgressError(TaskFactoryError):
    """A request a task or context source made could not be completed.

    The message is already redacted (no credentials) and has no exception chained to it, so it
    can go into logs, Temporal failures and task results as it is.
    """

    reason = "egress"
    #: The ``ApplicationError`` type task results and workflow histories show: the class's
    #: name unless the class names another.
    error_type = "EgressError"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.error_type = cls.__dict__.get("error_type", cls.__name__)


class EgressRefused(EgressError):
    """The egress policy refuses the scheme, host, address or redirect."""

    reason = "egress_refused"


class InvalidRequest(EgressError):
    """The request cannot be sent as given: a URL that does not parse or names no host, a
    header value with a line break or a non-ASCII character."""

    reason = "invalid_request"


class ResponseTooLarge(EgressError):
    """The response body is larger than ``max_response_bytes``."""

    reason = "response_too_large"


class EgressTimeout(EgressError):
    """The exchange took longer than its (capped) timeout."""

    retryable = True
    reason = "timeout"
    error_type = "HttpTimeout"


class EgressUnreachable(EgressError):
    """The host did not resolve, refused the connection or broke it off."""

    retryable = True
    reason = "unreachable"
    error_type = "HttpTransportError"


def application_error(exc: EgressError, where: str) -> ApplicationError:
    """The ``ApplicationError`` an activity raises for ``exc``, prefixed by ``where``."""
    return ApplicationError(f"{where}: {exc}", type=exc.error_type, non_retryable=not exc.retryable)
