"""``taskfactory-stack``: the local Kafka + Temporal stack without Docker."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from taskfactory_stack.errors import StackError
from taskfactory_stack.keycloak import ensure_keycloak
from taskfactory_stack.process import tail
from taskfactory_stack.promtool import ensure_promtool
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.stack import Stack
from taskfactory_stack.testserver import ensure_test_server

__all__ = ["app", "main"]


class Profile(StrEnum):
    """Which stack: the default one or the production-shaped cluster."""

    default = "default"
    cluster = "cluster"


app = typer.Typer(
    name="taskfactory-stack",
    help="Run a real Apache Kafka (KRaft) and the Temporal dev server locally, no Docker "
    "(--profile cluster: three brokers and a Temporal server on PostgreSQL).",
    no_args_is_help=True,
    add_completion=False,
)


PROFILE = typer.Option(
    None,
    "--profile",
    help="default (one broker, the Temporal dev server) or cluster (three brokers, PostgreSQL "
    "and a Temporal server); default: TASKFACTORY_STACK_PROFILE.",
)


def _settings(profile: Profile | None) -> StackSettings:
    return StackSettings() if profile is None else StackSettings(profile=profile.value)


def _fail(exc: StackError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(1)


@app.command()
def up(
    only: Annotated[
        list[str] | None,
        typer.Option(
            help="Start only this component (kafka, temporal, registry, jaeger, zipkin, …); "
            "repeatable."
        ),
    ] = None,
    profile: Profile | None = PROFILE,
) -> None:
    """Start Kafka and Temporal (a no-op for what is already running)."""
    stack = Stack(_settings(profile))
    names = [c.name for c in stack.components]
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise typer.BadParameter(f"no component {', '.join(unknown)} (have {', '.join(names)})")
    try:
        started = stack.up(skip=[n for n in names if n not in only] if only else ())
    except StackError as exc:
        _fail(exc)
        return
    if not started:
        typer.echo("stack is already running; nothing to do")
    else:
        typer.echo(f"started: {', '.join(started)}")
    _print_status(stack)


@app.command()
def prepare(profile: Profile | None = PROFILE) -> None:
    """Fetch and build what the stack and tests need (Kafka, registry, Jaeger, Zipkin, …)."""
    stack = Stack(_settings(profile))
    try:
        for component in stack.components:
            component.prepare()
        ensure_test_server(stack.settings)
        ensure_promtool(stack.settings)
        ensure_keycloak(stack.settings)
    except StackError as exc:
        _fail(exc)
        return
    names = [c.name for c in stack.components]
    done = ", ".join([*names, "temporal-test-server", "promtool", *{"keycloak"} - set(names)])
    typer.echo(f"prepared: {done} (cached in {stack.settings.root})")


@app.command()
def down(profile: Profile | None = PROFILE) -> None:
    """Stop only the processes `up` started (tracked by pid files)."""
    stopped = Stack(_settings(profile)).down()
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing of ours was running")


@app.command()
def reset(profile: Profile | None = PROFILE) -> None:
    """Empty the stopped stack: Kafka's topics, Temporal's runs, the registry's schemas.

    Downloads and builds stay; the next `up` starts as on a fresh machine.
    """
    try:
        removed = Stack(_settings(profile)).reset()
    except StackError as exc:
        _fail(exc)
        return
    typer.echo(f"removed: {', '.join(str(p) for p in removed)}" if removed else "nothing to remove")


def _print_status(stack: Stack) -> None:
    rows = stack.status()
    width = max(9, *(len(row.name) for row in rows))
    for row in rows:
        pid = str(row.pid) if row.pid else "-"
        extra = f"  {row.extra}" if row.extra and row.pid else ""
        typer.echo(f"{row.name:<{width}} {row.address:<16} pid {pid:<8} {row.health}{extra}")


@app.command()
def status(profile: Profile | None = PROFILE) -> None:
    """Each component with its address, pid and health; exit 3 when any is not running."""
    stack = Stack(_settings(profile))
    _print_status(stack)
    if not stack.running():
        raise typer.Exit(3)


@app.command()
def logs(
    lines: int = typer.Option(20, "--lines", "-n", min=1, help="Lines per component."),
    profile: Profile | None = PROFILE,
) -> None:
    """The last lines of each component's log."""
    for component in Stack(_settings(profile)).components:
        typer.echo(f"==> {component.process.log_file} <==")
        typer.echo(tail(component.process.log_file, lines) or "(empty)")


@app.command("run")
def run_demo() -> None:
    """Bring everything up, send the example events and show the results live (Ctrl-C stops)."""
    from taskfactory_stack.demo import run

    try:
        code = run(StackSettings())
    except StackError as exc:
        _fail(exc)
        return
    raise typer.Exit(code)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
