"""The admin API's routes (FastAPI; the OpenAPI document is at ``/openapi.json``).

Reads need a read or admin token, changes an admin token. Schedules go through
:class:`~taskfactory_orchestrator.schedules_ops.ScheduleOps`, the same code the CLI uses.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from taskfactory_contracts import ApprovalSignal, Envelope, RunStatusView, names
from taskfactory_orchestrator.admin.security import BodyLimit, Scope, TokenAuth, error_body
from taskfactory_orchestrator.explain import explain_event
from taskfactory_orchestrator.schedules_ops import NotOurs, ScheduleOps
from taskfactory_orchestrator.settings import AdminSection
from taskfactory_runtime.definitions import check_paths
from taskfactory_runtime.logging import get_logger

__all__ = ["AdminBackend", "create_app"]

log = get_logger(__name__)

_SAFE = r"^[^'\"\\]*$"  # values end up inside a visibility query string
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported",
}


@dataclass
class AdminBackend:
    """What the routes talk to."""

    client: Client
    schedules: ScheduleOps
    definitions_dir: Path


class Ok(BaseModel):
    """An accepted change."""

    ok: bool = True
    detail: str = ""


class BackfillRequest(BaseModel):
    """A window of firings to replay."""

    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime
    overlap: (
        Literal["skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other", "allow_all"]
        | None
    ) = None


class ApprovalRequest(BaseModel):
    """A decision on a task waiting for approval."""

    model_config = ConfigDict(extra="forbid")

    task_id: str = Field(min_length=1)
    approved: bool
    by: str = Field(min_length=1)
    comment: str = ""


class ExplainRequest(BaseModel):
    """An event as JSON; ``data`` may be any JSON value."""

    model_config = ConfigDict(extra="forbid")

    event: dict[str, Any]


def create_app(backend: AdminBackend, settings: AdminSection) -> FastAPI:
    """The admin application with auth, size limit and the JSON error shape."""
    auth = TokenAuth(settings)
    read = [Depends(auth.require(Scope.READ))]
    admin = [Depends(auth.require(Scope.ADMIN))]
    app = FastAPI(title="taskfactory admin API", version="1", docs_url=None, redoc_url=None)
    _errors(app)

    @app.get("/v1/definitions", dependencies=read)
    async def list_definitions() -> list[dict[str, Any]]:
        definitions, _ = check_paths([backend.definitions_dir])
        return [d.model_dump(mode="json") for d in definitions]

    @app.get("/v1/definitions/{definition_id}", dependencies=read)
    async def show_definition(definition_id: str) -> dict[str, Any]:
        definitions, _ = check_paths([backend.definitions_dir])
        for d in definitions:
            if d.id == definition_id:
                return d.model_dump(mode="json")
        raise HTTPException(404, f"no definition {definition_id!r}")

    @app.post("/v1/definitions/validate", dependencies=read)
    async def validate_definition(
        text: Annotated[str, Body(media_type="text/plain", description="A definition file.")],
    ) -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "definition.yaml"
            path.write_text(text, encoding="utf-8")
            definitions, problems = check_paths([path])
        return {
            "valid": not problems,
            "problems": [{"line": p.line, "field": p.field, "reason": p.reason} for p in problems],
            "definitions": [d.id for d in definitions],
        }

    @app.get("/v1/runs", dependencies=read)
    async def list_runs(
        definition: Annotated[str | None, Query(pattern=_SAFE, max_length=200)] = None,
        status: Literal[
            "Running", "Completed", "Failed", "Canceled", "Terminated", "TimedOut", "ContinuedAsNew"
        ]
        | None = None,
        subject: Annotated[str | None, Query(pattern=_SAFE, max_length=500)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> list[dict[str, Any]]:
        # Runs of both types: the fast path's and those started before it.
        types = f"'{names.WORKFLOW_RUN_ACTIVITY}', '{names.WORKFLOW_RUN_ACTIVITY_V1}'"
        query = [f"WorkflowType IN ({types})"]
        if definition:
            query.append(f"{names.SA_DEFINITION} = '{definition}'")
        if subject:
            query.append(f"{names.SA_SUBJECT} = '{subject}'")
        if status:
            query.append(f"ExecutionStatus = '{status}'")
        if since:
            query.append(f"StartTime >= '{since.isoformat()}'")
        if until:
            query.append(f"StartTime <= '{until.isoformat()}'")
        out: list[dict[str, Any]] = []
        async for wf in backend.client.list_workflows(" AND ".join(query), limit=limit):
            out.append(
                {
                    "workflow_id": wf.id,
                    "run_id": wf.run_id,
                    "status": wf.status.name if wf.status else None,
                    "start_time": wf.start_time.isoformat(),
                    "close_time": wf.close_time.isoformat() if wf.close_time else None,
                }
            )
        return out

    @app.get("/v1/runs/{workflow_id:path}/status", dependencies=read)
    async def show_run(workflow_id: str) -> dict[str, Any]:
        view: RunStatusView = await backend.client.get_workflow_handle(workflow_id).query(
            names.QUERY_STATUS, result_type=RunStatusView
        )
        return view.model_dump(mode="json")

    @app.post("/v1/runs/{workflow_id:path}/approve", dependencies=admin)
    async def approve_run(workflow_id: str, decision: ApprovalRequest) -> dict[str, Any]:
        state = await backend.client.get_workflow_handle(workflow_id).execute_update(
            names.UPDATE_APPROVAL, ApprovalSignal(**decision.model_dump())
        )
        return {"ok": True, "state": json.loads(json.dumps(state, default=str))}

    @app.post("/v1/runs/{workflow_id:path}/cancel", dependencies=admin)
    async def cancel_run(workflow_id: str) -> Ok:
        await backend.client.get_workflow_handle(workflow_id).cancel()
        return Ok(detail=f"cancellation requested for {workflow_id}")

    @app.get("/v1/schedules", dependencies=read)
    async def list_schedules() -> list[dict[str, Any]]:
        return await backend.schedules.list_all()

    @app.get("/v1/schedules/{schedule_id}", dependencies=read)
    async def describe_schedule(schedule_id: str) -> dict[str, Any]:
        return await backend.schedules.describe(schedule_id)

    @app.post("/v1/schedules/{schedule_id}/trigger", dependencies=admin)
    async def trigger_schedule(schedule_id: str) -> Ok:
        await backend.schedules.trigger(schedule_id)
        return Ok(detail=f"triggered {schedule_id}")

    @app.post("/v1/schedules/{schedule_id}/pause", dependencies=admin)
    async def pause_schedule(schedule_id: str, reason: str = "") -> Ok:
        await backend.schedules.pause(schedule_id, reason)
        return Ok(detail=f"paused {schedule_id}")

    @app.post("/v1/schedules/{schedule_id}/unpause", dependencies=admin)
    async def unpause_schedule(schedule_id: str) -> Ok:
        await backend.schedules.unpause(schedule_id)
        return Ok(detail=f"unpaused {schedule_id}")

    @app.post("/v1/schedules/{schedule_id}/backfill", dependencies=admin)
    async def backfill_schedule(schedule_id: str, window: BackfillRequest) -> dict[str, Any]:
        if window.end < window.start:
            raise HTTPException(400, "end is before start")
        return await backend.schedules.backfill(
            schedule_id, window.start, window.end, window.overlap
        )

    @app.post("/v1/explain", dependencies=read)
    async def explain(request: ExplainRequest) -> dict[str, Any]:
        fields = dict(request.event)
        data = fields.pop("data", None)
        fields["data"] = b"" if data is None else json.dumps(data).encode()
        fields.setdefault("time", "1970-01-01T00:00:00Z")  # as `taskfactory explain` does
        try:
            envelope = Envelope.model_validate(fields)
        except ValidationError as exc:
            raise RequestValidationError(
                exc.errors(include_url=False, include_context=False)
            ) from None
        definitions, _ = check_paths([backend.definitions_dir])
        return dataclasses.asdict(explain_event(envelope, definitions))

    return app


def _errors(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        return JSONResponse(error_body("invalid_request", "the request is invalid", details), 422)

    @app.exception_handler(NotOurs)
    async def not_ours(_: Request, exc: NotOurs) -> JSONResponse:
        return JSONResponse(error_body("not_found", str(exc)), 404)

    @app.exception_handler(RPCError)
    async def temporal_error(_: Request, exc: RPCError) -> JSONResponse:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return JSONResponse(error_body("not_found", "no such workflow or schedule"), 404)
        if exc.status in (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.FAILED_PRECONDITION):
            return JSONResponse(error_body("rejected", "Temporal rejected the request"), 409)
        log.error("admin request failed at Temporal", status=exc.status.name, error=str(exc))
        return JSONResponse(error_body("unavailable", "Temporal is unavailable"), 503)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("admin request failed", error_type=type(exc).__name__)
        return JSONResponse(error_body("internal", "internal error"), 500)


def with_limits(app: FastAPI, settings: AdminSection) -> BodyLimit:
    """``app`` behind the request body limit (the ASGI app to serve)."""
    return BodyLimit(app, settings.max_request_bytes)
