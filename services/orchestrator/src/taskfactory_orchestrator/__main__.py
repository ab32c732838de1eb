"""``python -m taskfactory_orchestrator``: run the orchestrator service."""

from __future__ import annotations

from taskfactory_orchestrator.settings import OrchestratorSettings
from taskfactory_orchestrator.worker import run
from taskfactory_runtime.service import serve

__all__ = ["main"]


def main() -> None:
    """Build the settings once and serve until SIGTERM/SIGINT."""
    serve(OrchestratorSettings(), run, service="orchestrator")


if __name__ == "__main__":
    main()
