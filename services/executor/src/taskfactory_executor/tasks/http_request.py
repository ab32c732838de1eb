"""``http``: one HTTP call carrying the task's ``Idempotency-Key``.

5xx and 429 are retryable, and a ``Retry-After`` sets the next retry's delay; any other 4xx
is non-retryable; a transport error or timeout is retryable. The call goes through the
worker's :class:`~taskfactory_runtime.egress.Egress` (resource ``http``): a refused scheme,
host, address or redirect, an invalid URL and a body over the size limit are non-retryable;
``timeout_seconds`` is capped by the deployment; credentials never reach error messages.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from temporalio.exceptions import ApplicationError

from taskfactory_executor.registry import TaskContext
from taskfactory_runtime.egress import Egress, EgressError, application_error, redact_url

__all__ = ["IDEMPOTENCY_HEADER", "HttpRequestParams", "http_request", "retry_after"]

IDEMPOTENCY_HEADER = "Idempotency-Key"
#: A server's Retry-After is honoured up to this long (the template's retry policy still caps).
_MAX_RETRY_AFTER = timedelta(hours=1)


class HttpRequestParams(BaseModel):
    """The request to send."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    #: Capped by ``TASKFACTORY_EGRESS__MAX_TIMEOUT_SECONDS``, for the whole exchange.
    timeout_seconds: float = Field(default=30.0, gt=0)


def retry_after(value: str | None, now: datetime | None = None) -> timedelta | None:
    """A ``Retry-After`` header (delta-seconds or HTTP-date) as a delay; ``None`` if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = when - (now or datetime.now(UTC))
    return max(timedelta(0), min(delay, _MAX_RETRY_AFTER))


async def http_request(params: HttpRequestParams, context: TaskContext) -> dict[str, Any]:
    """Send the request; a 2xx/3xx returns ``{status, body}``, anything else raises.

    A redirect is followed only as ``TASKFACTORY_EGRESS__REDIRECTS`` allows; one that is not
    fails non-retryably (``EgressRefused``) rather than passing for the answer.
    """
    egress: Egress = context.resource("http")
    headers = {IDEMPOTENCY_HEADER: context.idempotency_key, **params.headers}
    where = f"{params.method} {redact_url(params.url)} (task {context.task.task_id})"
    try:
        response = await egress.request(
            params.method,
            params.url,
            headers=headers,
            json=params.json_body,
            timeout_seconds=params.timeout_seconds,
        )
    except EgressError as exc:
        raise application_error(exc, where) from exc
    status = response.status
    body = response.body()
    if status == 429 or status >= 500:
        raise ApplicationError(
            f"{where}: HTTP {status}",
            {"status": status, "body": body},
            type=f"HttpStatus{status}",
            next_retry_delay=retry_after(response.headers.get("Retry-After")),
        )
    if status >= 400:
        raise ApplicationError(
            f"{where}: HTTP {status}: {str(body)[:200]}",
            {"status": status, "body": body},
            type=f"HttpStatus{status}",
            non_retryable=True,
        )
    return {"status": status, "body": body}
