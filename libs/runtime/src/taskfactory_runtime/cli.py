"""The ``taskfactory`` command: sub-commands are gathered from the ``taskfactory.cli`` entry points.

Each service contributes its own (ingress: ``dlq``; orchestrator: ``definitions`` …), so the
command grows without any service importing another.
"""

from __future__ import annotations

import gc
from importlib.metadata import entry_points

import typer

__all__ = ["build_app", "main"]


def build_app() -> typer.Typer:
    """The root app with every installed sub-command."""
    app = typer.Typer(
        name="taskfactory",
        help="taskfactory: Kafka events → Temporal workflows → Kafka results.",
        no_args_is_help=True,
        add_completion=False,
    )
    for ep in sorted(entry_points(group="taskfactory.cli"), key=lambda e: e.name):
        sub = ep.load()
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=ep.name)
        else:
            app.command(ep.name)(sub)
    return app


def main() -> None:
    """Entry point of the ``taskfactory`` console script."""
    try:
        build_app()()
    finally:
        # A Temporal client's native runtime must not outlive interpreter finalization: it
        # aborts the process (exit 134) instead of exiting with the command's code.
        gc.collect()


if __name__ == "__main__":
    main()
