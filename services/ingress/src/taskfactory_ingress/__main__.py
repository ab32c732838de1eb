"""``python -m taskfactory_ingress``: run the ingress service."""

from __future__ import annotations

from taskfactory_ingress.app import run
from taskfactory_ingress.settings import IngressSettings
from taskfactory_runtime.service import serve

__all__ = ["main"]


def main() -> None:
    """Build the settings once and serve until SIGTERM/SIGINT."""
    serve(IngressSettings(), run, service="ingress")


if __name__ == "__main__":
    main()
