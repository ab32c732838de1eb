"""``taskfactory definitions|explain|runs``: the orchestrator's sub-commands."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any, cast, get_args

import typer

from taskfactory_contracts import ActivityDefinition
from taskfactory_orchestrator.errors import UnsafeValue
from taskfactory_orchestrator.explain import explain_event, format_explanation, load_event
from taskfactory_orchestrator.models import ApprovalDecision
from taskfactory_orchestrator.runs.ops import RunFilter, RunOps, RunStatusName, literal
from taskfactory_runtime.cli import describe_error
from taskfactory_runtime.definitions import check_paths, known_task_types

__all__ = ["definitions_app", "explain", "runs_app", "schema_document"]

definitions_app = typer.Typer(
    help="Check and describe ActivityDefinition files.", no_args_is_help=True
)
runs_app = typer.Typer(help="Inspect and steer runs on Temporal.", no_args_is_help=True)


def schema_document() -> dict[str, Any]:
    """The JSON Schema of a definition file, as published in ``schemas/definition.schema.json``."""
    schema = ActivityDefinition.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://taskfactory.dev/schemas/definition.schema.json",
        **schema,
    }


@definitions_app.command("validate")
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Definition files or folders.")],
    task_type: Annotated[
        list[str] | None, typer.Option("--task-type", help="Also accept this task type.")
    ] = None,
) -> None:
    """Print every problem as ``file:line: field: reason``; exit 1 if there is any."""
    types = {*known_task_types(), *(task_type or [])}
    definitions, problems = check_paths(paths, types)
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s); nothing is valid until all are fixed", err=True)
        raise typer.Exit(1)
    for d in definitions:
        typer.echo(f"ok  {d.id} v{d.version}  ({len(d.tasks)} task templates)")


@definitions_app.command("schema")
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Print (or write) the JSON Schema of definition files."""
    text = json.dumps(schema_document(), indent=2, sort_keys=True) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


def explain(
    event: Annotated[Path, typer.Option("--event", help="An event as JSON (one or a list).")],
    definitions: Annotated[Path, typer.Option("--definitions", help="Definitions folder.")] = Path(
        "examples/definitions"
    ),
) -> None:
    """Which definitions an event triggers and why the others do not; ids and rendered tasks."""
    loaded, problems = check_paths([definitions])
    if problems:
        for problem in problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1)
    try:
        envelopes = load_event(event)
    except ValueError as exc:  # not JSON, or not an event (a pydantic ValidationError)
        raise typer.BadParameter(f"{event}: {describe_error(exc)}", param_hint="--event") from None
    for envelope in envelopes:
        typer.echo(format_explanation(explain_event(envelope, loaded)))


async def _ops() -> RunOps:
    from taskfactory_orchestrator.settings import OrchestratorSettings
    from taskfactory_runtime.temporal import connect_temporal

    settings = OrchestratorSettings().temporal
    return RunOps(await connect_temporal(settings), settings.orchestrator_task_queue)


def _checked(value: str | None, option: str) -> str | None:
    if value is not None:
        try:
            literal(value)
        except UnsafeValue as exc:
            raise typer.BadParameter(str(exc), param_hint=option) from None
    return value


@runs_app.command("list")
def runs_list(
    definition: Annotated[str | None, typer.Option(help="Only runs of this definition.")] = None,
    subject: Annotated[str | None, typer.Option(help="Only runs of this subject.")] = None,
    status: Annotated[
        str | None, typer.Option(help="Only runs in this state (Running, Completed, Failed …).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """This taskfactory's runs, newest first (the same query as the admin API's /v1/runs)."""
    if status is not None and status not in get_args(RunStatusName):
        raise typer.BadParameter(
            f"{status!r} is not one of {', '.join(get_args(RunStatusName))}", param_hint="--status"
        )
    where = RunFilter(
        definition=_checked(definition, "--definition"),
        subject=_checked(subject, "--subject"),
        status=cast("RunStatusName | None", status),
    )

    async def go() -> None:
        for run in await (await _ops()).list(where, limit=limit):
            typer.echo(f"{run['workflow_id']}  {run['status'] or '?'}  {run['start_time']}")

    asyncio.run(go())


@runs_app.command("event")
def runs_event(
    event_id: str,
    definition: Annotated[str | None, typer.Option(help="Only runs of this definition.")] = None,
    subject: Annotated[str | None, typer.Option(help="Only runs of this subject.")] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=1000, help="How many of the newest runs to look through.")
    ] = 100,
) -> None:
    """What event EVENT_ID produced: its runs, each task's phase and result id (JSON lines)."""
    where = RunFilter(
        definition=_checked(definition, "--definition"), subject=_checked(subject, "--subject")
    )

    async def go() -> None:
        found = await (await _ops()).produced(event_id, where, limit=limit)
        for run in found:
            typer.echo(json.dumps(run))
        if not found:
            typer.echo(f"no run among the newest {limit} was started by event {event_id}", err=True)
            raise typer.Exit(1)

    asyncio.run(go())


@runs_app.command("show")
def runs_show(workflow_id: str) -> None:
    """The status query of one run: each task's phase, attempts and last error."""

    async def go() -> None:
        view = await (await _ops()).status(workflow_id)
        typer.echo(view.model_dump_json(indent=2))

    asyncio.run(go())


@runs_app.command("approve")
def runs_approve(
    workflow_id: str,
    task_id: str,
    by: Annotated[str, typer.Option(help="Who decides.")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve.")] = False,
    comment: str = "",
) -> None:
    """Approve (or ``--reject``) a task waiting for a human decision."""

    async def go() -> None:
        decision = ApprovalDecision(task_id=task_id, approved=not reject, by=by, comment=comment)
        state = await (await _ops()).decide(workflow_id, decision)
        typer.echo(json.dumps(state, default=str))

    asyncio.run(go())


@runs_app.command("cancel")
def runs_cancel(workflow_id: str) -> None:
    """Cancel a run: running tasks are cancelled, completed ones compensated."""

    async def go() -> None:
        await (await _ops()).cancel(workflow_id)
        typer.echo(f"cancellation requested for {workflow_id}")

    asyncio.run(go())
