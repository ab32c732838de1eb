"""``python -m taskfactory_executor``: run the executor service."""

from __future__ import annotations

from taskfactory_executor.settings import ExecutorSettings
from taskfactory_executor.worker import run
from taskfactory_runtime.service import serve

__all__ = ["main"]


def main() -> None:
    """Build the settings once and serve until SIGTERM/SIGINT."""
    serve(ExecutorSettings(), run, service="executor")


if __name__ == "__main__":
    main()
