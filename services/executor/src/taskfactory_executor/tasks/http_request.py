"""``http.request``: one HTTP call carrying the task's ``Idempotency-Key``.

5xx and 429 are retryable, and a ``Retry-After`` sets the next retry's delay; any other 4xx
is non-retryable; a transport error or timeout is retryable.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field
from temporalio.exceptions import ApplicationError

from taskfactory_executor.registry import TaskContext

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


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


async def http_request(params: HttpRequestParams, context: TaskContext) -> dict[str, Any]:
    """Send the request; a 2xx/3xx returns ``{status, body}``, anything else raises."""
    client: httpx.AsyncClient = context.resource("http")
    headers = {IDEMPOTENCY_HEADER: context.idempotency_key, **params.headers}
    where = f"{params.method} {params.url} (task {context.task.task_id})"
    try:
        response = await client.request(
            params.method,
            params.url,
            headers=headers,
            json=params.json_body,
            timeout=params.timeout_seconds,
        )
    except httpx.TimeoutException as exc:
        raise ApplicationError(f"{where}: timed out: {exc!r}", type="HttpTimeout") from exc
    except httpx.TransportError as exc:
        raise ApplicationError(f"{where}: {exc!r}", type="HttpTransportError") from exc
    status = response.status_code
    body = _body(response)
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
