"""The admin API's routes (FastAPI; the OpenAPI document is at ``/openapi.json``).

Every request needs a principal's bearer token (:mod:`.security`); reads need the read
scope, approvals the approve scope, changes the admin scope. Runs are only those this
taskfactory started (its workflow type on its orchestrator task queue), as schedules are
only those it owns (:class:`~taskfactory_orchestrator.schedules.ops.ScheduleOps`, the same
code the CLI uses). Definition checks and explains run off the event loop (:mod:`.checks`).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from taskfactory_contracts import ApprovalSignal, Envelope, RunStatusView, names
from taskfactory_orchestrator.admin.checks import CheckRunner
from taskfactory_orchestrator.admin.errors import install_error_handlers
from taskfactory_orchestrator.admin.security import Guard, Identity, Scope, TokenAuth, require
from taskfactory_orchestrator.explain import explain_event
from taskfactory_orchestrator.schedules.ops import ScheduleOps
from taskfactory_orchestrator.settings import AdminSection
from taskfactory_runtime.definitions import check_paths

__all__ = ["AdminBackend", "create_app", "with_limits"]

# Values end up inside a visibility query string: no quotes, backslashes or control
# characters (a NUL cuts the query short in the dev server's SQLite: an error, not a match),
# and no "?": Temporal's SQL visibility on PostgreSQL rebinds every "?" of the query as a
# placeholder, even inside a string literal, and the query fails (found on the cluster profile).
_SAFE = r"^[^'\"\\?\x00-\x1f\x7f]*$"
_RPC_TIMEOUT = timedelta(seconds=20)


@dataclass
class AdminBackend:
    """What the routes talk to."""

    client: Client
    schedules: ScheduleOps
    definitions_dir: Path
    #: The orchestrator task queue: a run is taskfactory's when it runs there.
    task_queue: str = names.TASK_QUEUE_ORCHESTRATOR

    async def run(self, workflow_id: str, *, running: bool = False) -> WorkflowHandle[Any, Any]:
        """The handle of a run this taskfactory started (404 otherwise; 409 if not running)."""
        handle = self.client.get_workflow_handle(workflow_id)
        described = await handle.describe(rpc_timeout=_RPC_TIMEOUT)
        if (
            described.workflow_type
            not in (names.WORKFLOW_RUN_ACTIVITY, names.WORKFLOW_RUN_ACTIVITY_V1)
            or described.task_queue != self.task_queue
        ):
            raise HTTPException(404, f"no taskfactory run {workflow_id!r}")
        if running and described.status != WorkflowExecutionStatus.RUNNING:
            status = described.status.name.lower() if described.status else "closed"
            raise HTTPException(409, f"run {workflow_id!r} is {status}")
        return handle


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
    """A decision on a task waiting for approval; the approver is the caller's principal."""

    model_config = ConfigDict(extra="forbid")

    task_id: str = Field(min_length=1, max_length=200)
    approved: bool
    comment: str = Field(default="", max_length=2000)


class ExplainRequest(BaseModel):
    """An event as JSON; ``data`` may be any JSON value."""

    model_config = ConfigDict(extra="forbid")

    event: dict[str, Any]


def _validate_text(text: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "definition.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        definitions, problems = check_paths([path])
    return {
        "valid": not problems,
        "problems": [{"line": p.line, "field": p.field, "reason": p.reason} for p in problems],
        "definitions": [d.id for d in definitions],
    }


def _explain(event: dict[str, Any], folder: Path) -> dict[str, Any]:
    fields = dict(event)
    data = fields.pop("data", None)
    fields["data"] = b"" if data is None else json.dumps(data).encode()
    fields.setdefault("time", "1970-01-01T00:00:00Z")  # as `taskfactory explain` does
    try:
        envelope = Envelope.model_validate(fields)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None
    definitions, _ = check_paths([folder])
    return dataclasses.asdict(explain_event(envelope, definitions))


def _definitions(folder: Path) -> list[dict[str, Any]]:
    definitions, _ = check_paths([folder])
    return [d.model_dump(mode="json") for d in definitions]


def create_app(backend: AdminBackend, settings: AdminSection) -> FastAPI:
    """The admin application: routes, scopes and the JSON error shape (serve ``with_limits``)."""
    read = [Depends(require(Scope.READ))]
    admin = [Depends(require(Scope.ADMIN))]
    checks = CheckRunner(
        slots=settings.max_concurrent_checks, timeout=settings.validate_timeout_seconds
    )
    app = FastAPI(title="taskfactory admin API", version="1", docs_url=None, redoc_url=None)
    install_error_handlers(app)

    @app.get("/v1/definitions", dependencies=read)
    async def list_definitions() -> list[dict[str, Any]]:
        return await checks.run("listing definitions", _definitions, backend.definitions_dir)

    @app.get("/v1/definitions/{definition_id}", dependencies=read)
    async def show_definition(definition_id: str) -> dict[str, Any]:
        found = await checks.run("listing definitions", _definitions, backend.definitions_dir)
        for d in found:
            if d["id"] == definition_id:
                return d
        raise HTTPException(404, f"no definition {definition_id!r}")

    @app.post("/v1/definitions/validate", dependencies=read)
    async def validate_definition(
        text: Annotated[str, Body(media_type="text/plain", description="A definition file.")],
    ) -> dict[str, Any]:
        return await checks.run("checking the definition", _validate_text, text)

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
        query = [f"WorkflowType IN ({types})", f"TaskQueue = '{backend.task_queue}'"]
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
        async for wf in backend.client.list_workflows(
            " AND ".join(query), limit=limit, rpc_timeout=_RPC_TIMEOUT
        ):
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
        handle = await backend.run(workflow_id)
        view: RunStatusView = await handle.query(
            names.QUERY_STATUS, result_type=RunStatusView, rpc_timeout=_RPC_TIMEOUT
        )
        return view.model_dump(mode="json")

    @app.post("/v1/runs/{workflow_id:path}/approve")
    async def approve_run(
        workflow_id: str,
        decision: ApprovalRequest,
        who: Annotated[Identity, Depends(require(Scope.APPROVE))],
    ) -> dict[str, Any]:
        """Decide a waiting task as the caller; 403 unless the template's approvers name them."""
        handle = await backend.run(workflow_id, running=True)
        state = await handle.execute_update(
            names.UPDATE_APPROVAL,
            ApprovalSignal(
                task_id=decision.task_id,
                approved=decision.approved,
                by=who.name,
                groups=who.groups,
                comment=decision.comment,
            ),
            rpc_timeout=_RPC_TIMEOUT,
        )
        return {"ok": True, "state": json.loads(json.dumps(state, default=str))}

    @app.post("/v1/runs/{workflow_id:path}/cancel", dependencies=admin)
    async def cancel_run(workflow_id: str) -> Ok:
        handle = await backend.run(workflow_id, running=True)
        await handle.cancel(rpc_timeout=_RPC_TIMEOUT)
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
    async def pause_schedule(
        schedule_id: str, reason: Annotated[str, Query(max_length=500)] = ""
    ) -> Ok:
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
        return await checks.run(
            "explaining the event", _explain, request.event, backend.definitions_dir
        )

    return app


def with_limits(app: FastAPI, settings: AdminSection) -> Guard:
    """``app`` behind authentication and the request body limit (the ASGI app to serve)."""
    return Guard(app, TokenAuth(settings), settings.max_request_bytes)
