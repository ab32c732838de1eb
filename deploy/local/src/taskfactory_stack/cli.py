"""``taskfactory-stack``: the local Kafka + Temporal stack without Docker."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from taskfactory_stack.process import StackError, tail
from taskfactory_stack.promtool import ensure_promtool
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.stack import Stack
from taskfactory_stack.testserver import ensure_test_server

__all__ = ["app", "main"]

app = typer.Typer(
    name="taskfactory-stack",
    help="Run a real Apache Kafka (KRaft) and the Temporal dev server locally, no Docker.",
    no_args_is_help=True,
    add_completion=False,
)


def _fail(exc: StackError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(1)


@app.command()
def up(
    only: Annotated[
        list[str] | None,
        typer.Option(help="Start only this component (kafka, temporal, jaeger); repeatable."),
    ] = None,
) -> None:
    """Start Kafka and Temporal (a no-op for what is already running)."""
    stack = Stack()
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
def prepare() -> None:
    """Fetch and build what the stack and tests need (Kafka jars, Jaeger, test server, promtool)."""
    stack = Stack()
    try:
        for component in stack.components:
            component.prepare()
        ensure_test_server(stack.settings)
        ensure_promtool(stack.settings)
    except StackError as exc:
        _fail(exc)
        return
    done = ", ".join([*(c.name for c in stack.components), "temporal-test-server", "promtool"])
    typer.echo(f"prepared: {done} (cached in {stack.settings.root})")


@app.command()
def down() -> None:
    """Stop only the processes `up` started (tracked by pid files)."""
    stopped = Stack().down()
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing of ours was running")


def _print_status(stack: Stack) -> None:
    for row in stack.status():
        pid = str(row.pid) if row.pid else "-"
        extra = f"  {row.extra}" if row.extra and row.pid else ""
        typer.echo(f"{row.name:<9} {row.address:<16} pid {pid:<8} {row.health}{extra}")


@app.command()
def status() -> None:
    """Each component with its address, pid and health; exit 3 when any is not running."""
    stack = Stack()
    _print_status(stack)
    if not stack.running():
        raise typer.Exit(3)


@app.command()
def logs(
    lines: int = typer.Option(20, "--lines", "-n", min=1, help="Lines per component."),
) -> None:
    """The last lines of each component's log."""
    for component in Stack().components:
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
