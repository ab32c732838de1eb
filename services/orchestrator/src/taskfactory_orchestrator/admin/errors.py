"""Every failure of an admin request as ``{"error": {"code", "message"}}`` with a fitting status.

Nothing a caller sends ends in a 500: Temporal's refusals are 404/409, a decision the run
refuses is 403/409 with the run's reason, an overloaded or slow check is 503/504.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import (
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from taskfactory_contracts import names
from taskfactory_orchestrator.admin.security import error_body
from taskfactory_orchestrator.errors import Busy, NotOurs, NotRunning, UnsafeValue
from taskfactory_runtime.logging import get_logger

__all__ = ["install_error_handlers"]

log = get_logger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported",
    503: "unavailable",
    504: "timeout",
}
_MESSAGE_MAX = 500


def _short(text: str) -> str:
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 1] + "…"


def _json(status: int, code: str, message: str, details: object = None) -> JSONResponse:
    return JSONResponse(error_body(code, _short(message), details), status)


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception a route can raise to the error shape."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": _short(str(e.get("msg", "")))}
            for e in exc.errors()
        ]
        return _json(422, "invalid_request", "the request is invalid", details)

    @app.exception_handler(NotOurs)
    async def not_ours(_: Request, exc: NotOurs) -> JSONResponse:
        return _json(404, "not_found", str(exc))

    @app.exception_handler(NotRunning)
    async def not_running(_: Request, exc: NotRunning) -> JSONResponse:
        return _json(409, "conflict", str(exc))

    @app.exception_handler(UnsafeValue)
    async def unsafe(_: Request, exc: UnsafeValue) -> JSONResponse:
        return _json(422, "invalid_request", str(exc))

    @app.exception_handler(Busy)
    async def busy(_: Request, exc: Busy) -> JSONResponse:
        return _json(exc.status, _CODES[exc.status], str(exc))

    @app.exception_handler(WorkflowUpdateFailedError)
    async def refused(_: Request, exc: WorkflowUpdateFailedError) -> JSONResponse:
        cause = exc.cause
        reason = getattr(cause, "message", None) or str(cause)
        if isinstance(cause, ApplicationError) and cause.type == names.ERROR_NOT_AN_APPROVER:
            return _json(403, "not_an_approver", reason)
        return _json(409, "rejected", reason)

    @app.exception_handler(WorkflowQueryFailedError)
    async def query_failed(_: Request, exc: WorkflowQueryFailedError) -> JSONResponse:
        return _json(409, "rejected", f"the run could not answer: {exc.message}")

    @app.exception_handler(WorkflowQueryRejectedError)
    async def query_rejected(_: Request, exc: WorkflowQueryRejectedError) -> JSONResponse:
        return _json(409, "rejected", f"the run refused the query: {exc}")

    @app.exception_handler(WorkflowUpdateRPCTimeoutOrCancelledError)
    async def update_timeout(
        _: Request, __: WorkflowUpdateRPCTimeoutOrCancelledError
    ) -> JSONResponse:
        return _json(504, "timeout", "the run did not take the decision in time; is its worker up?")

    @app.exception_handler(RPCError)
    async def temporal_error(_: Request, exc: RPCError) -> JSONResponse:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return _json(404, "not_found", "no such run or schedule")
        if exc.status in (
            RPCStatusCode.INVALID_ARGUMENT,
            RPCStatusCode.FAILED_PRECONDITION,
            RPCStatusCode.ALREADY_EXISTS,
        ):
            return _json(409, "rejected", f"Temporal refused: {exc.message}")
        if exc.status == RPCStatusCode.DEADLINE_EXCEEDED:
            return _json(504, "timeout", "Temporal did not answer in time")
        log.error("admin request failed at Temporal", status=exc.status.name, error=str(exc))
        return _json(503, "unavailable", "Temporal is unavailable")

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("admin request failed", error_type=type(exc).__name__)
        return _json(500, "internal", "internal error")
