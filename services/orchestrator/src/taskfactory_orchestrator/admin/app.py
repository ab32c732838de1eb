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
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.client import Client

from taskfactory_contracts import envelope_from_json, names
from taskfactory_orchestrator.admin.checks import CheckRunner
from taskfactory_orchestrator.admin.errors import install_error_handlers
from taskfactory_orchestrator.admin.security import Guard, Identity, Scope, TokenAuth, require
from taskfactory_orchestrator.explain import explain_event
from taskfactory_orchestrator.models import ApprovalDecision
from taskfactory_orchestrator.runs.ops import SAFE_PATTERN, RunFilter, RunOps, RunStatusName
from taskfactory_orchestrator.schedules.ops import ScheduleOps
from taskfactory_orchestrator.settings import AdminSection
from taskfactory_runtime.definitions import check_paths

__all__ = ["AdminBackend", "create_app", "with_limits"]


@dataclass
class AdminBackend:
    """What the routes talk to."""

    client: Client
    schedules: ScheduleOps
    definitions_dir: Path
    #: The orchestrator task queue: a run is taskfactory's when it runs there.
    task_queue: str = names.TASK_QUEUE_ORCHESTRATOR

    @property
    def runs(self) -> RunOps:
        """The run operations (the same as ``taskfactory runs``)."""
        return RunOps(self.client, self.task_queue)


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
    try:
        envelope = envelope_from_json(event)  # as `taskfactory explain` reads a file's
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
        definition: Annotated[str | None, Query(pattern=SAFE_PATTERN, max_length=200)] = None,
        status: RunStatusName | None = None,
        subject: Annotated[str | None, Query(pattern=SAFE_PATTERN, max_length=500)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> list[dict[str, Any]]:
        where = RunFilter(definition, subject, status, since, until)
        return await backend.runs.list(where, limit=limit)

    @app.get("/v1/runs/{workflow_id:path}/status", dependencies=read)
    async def show_run(workflow_id: str) -> dict[str, Any]:
        return (await backend.runs.status(workflow_id)).model_dump(mode="json")

    @app.post("/v1/runs/{workflow_id:path}/approve")
    async def approve_run(
        workflow_id: str,
        decision: ApprovalRequest,
        who: Annotated[Identity, Depends(require(Scope.APPROVE))],
    ) -> dict[str, Any]:
        """Decide a waiting task as the caller; 403 unless the template's approvers name them."""
        state = await backend.runs.decide(
            workflow_id,
            ApprovalDecision(
                task_id=decision.task_id,
                approved=decision.approved,
                by=who.name,
                groups=who.groups,
                comment=decision.comment,
            ),
        )
        return {"ok": True, "state": json.loads(json.dumps(state, default=str))}

    @app.post("/v1/runs/{workflow_id:path}/cancel", dependencies=admin)
    async def cancel_run(workflow_id: str) -> Ok:
        await backend.runs.cancel(workflow_id)
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
