"""The orchestrator's admin HTTP API: definitions, runs, schedules and explain, with bearer auth."""

from taskfactory_orchestrator.admin.app import AdminBackend, create_app
from taskfactory_orchestrator.admin.security import Scope, TokenAuth

__all__ = ["AdminBackend", "Scope", "TokenAuth", "create_app"]
