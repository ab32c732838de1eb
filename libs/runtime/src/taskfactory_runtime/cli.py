"""The ``taskfactory`` command: sub-commands are gathered from the ``taskfactory.cli`` entry points.

Each service contributes its own (ingress: ``dlq``; orchestrator: ``definitions`` …), so the
command grows without any service importing another. Every failure of every sub-command
ends here, in one error boundary: one line on stderr and a non-zero exit code (2 for bad
arguments, 1 for everything else, 130 when interrupted), never a traceback
(``TASKFACTORY_CLI_DEBUG=1`` shows it and the clients' log lines, for debugging).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

import typer
from pydantic import ValidationError

from taskfactory_contracts import names
from taskfactory_contracts.errors import TaskFactoryError
from taskfactory_runtime.secrets import known_secrets

__all__ = ["build_app", "describe_error", "main", "run_cli"]

_MAX_LINE = 600
_DEBUG = "TASKFACTORY_CLI_DEBUG"  # set: tracebacks and the clients' log lines are shown


def build_app() -> typer.Typer:
    """The root app with every installed sub-command."""
    app = typer.Typer(
        name="taskfactory",
        help="taskfactory: Kafka events → Temporal workflows → Kafka results.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for ep in sorted(entry_points(group=names.CLI_PLUGIN_GROUP), key=lambda e: e.name):
        sub = ep.load()
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=ep.name)
        else:
            app.command(ep.name)(sub)
    return app


def describe_error(exc: BaseException) -> str:
    """What went wrong, as one line a user can act on (no secret, no traceback)."""
    text = _what(exc)
    for secret in known_secrets():
        text = text.replace(secret, "**redacted**")
    line = " ".join(text.split())
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 1] + "…"


def _what(exc: BaseException) -> str:
    # Imported here: the Temporal and Kafka clients are heavy, and `--help` needs neither.
    from aiokafka.errors import KafkaError
    from temporalio.client import (
        WorkflowFailureError,
        WorkflowQueryFailedError,
        WorkflowUpdateFailedError,
    )
    from temporalio.service import RPCError, RPCStatusCode

    if isinstance(exc, TaskFactoryError):
        return str(exc)
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or exc.title}: {e['msg']}" for e in exc.errors()
        )
        what = "settings" if exc.title.endswith("Settings") else "input"
        return f"invalid {what} ({exc.title}): {problems}"
    if isinstance(exc, RPCError):
        if exc.status == RPCStatusCode.NOT_FOUND:
            return f"not found: {exc.message}"
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return f"Temporal is unavailable ({exc.status.name}): {exc.message}"
        return f"Temporal refused ({exc.status.name}): {exc.message}"
    if isinstance(exc, WorkflowUpdateFailedError | WorkflowFailureError):
        cause = exc.cause
        return f"refused: {getattr(cause, 'message', None) or cause}"
    if isinstance(exc, WorkflowQueryFailedError):
        return f"the run could not answer: {exc.message}"
    if isinstance(exc, KafkaError):
        text = str(exc) or type(exc).__name__
        named = text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"
        return f"Kafka: {named}"
    if isinstance(exc, OSError):
        return f"{exc.strerror or type(exc).__name__}" + (
            f": {exc.filename}" if exc.filename else ""
        )
    message = str(exc)
    if isinstance(exc, LookupError) and not isinstance(exc, KeyError | IndexError) and message:
        return message  # "no taskfactory schedule 'x'": our own lookups say what was missing
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def run_cli(app: typer.Typer, args: Sequence[str]) -> int:
    """Run ``app`` with ``args``; every failure is one line on stderr. Returns the exit code."""
    command = typer.main.get_command(app)
    if not os.environ.get(_DEBUG):
        # The clients' own log lines (aiokafka's "Unable connect to …", asyncio's "Unclosed …")
        # would go to stderr through logging's last resort; the one error line says it all.
        logging.getLogger().addHandler(logging.NullHandler())
    try:
        result = command.main(args=list(args), prog_name="taskfactory", standalone_mode=False)
    except typer.Exit as done:
        return int(done.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _fail("interrupted")
        return 130
    except typer.TyperException as exc:
        # Typer's own copy of click's usage errors: bad arguments, options, commands.
        code = int(getattr(exc, "exit_code", 2))
        if type(exc).__name__ == "NoArgsIsHelpError":
            return code  # the help was shown, which is what no arguments ask for
        ctx = getattr(exc, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        _fail(where + exc.format_message())
        return code
    except Exception as exc:
        if os.environ.get(_DEBUG):
            raise
        _fail(describe_error(exc))
        return 1
    # `standalone_mode=False` hands back a command's `typer.Exit` code as its result.
    return result if isinstance(result, int) else 0


def _fail(line: str) -> None:
    # stderr may be gone (a closed pipe): the exit code still tells.
    with contextlib.suppress(OSError):
        print(f"taskfactory: error: {' '.join(line.split())}", file=sys.stderr, flush=True)


def main() -> None:
    """Entry point of the ``taskfactory`` console script."""
    try:
        code = run_cli(build_app(), sys.argv[1:])
    finally:
        # A Temporal client's native runtime must not outlive interpreter finalization: it
        # aborts the process (exit 134) instead of exiting with the command's code.
        gc.collect()
    sys.exit(code)


if __name__ == "__main__":
    main()
