"""The orchestrator's admin HTTP API: definitions, runs, schedules and explain, with bearer auth."""

from taskfactory_orchestrator.admin.app import AdminBackend, create_app, with_limits
from taskfactory_orchestrator.admin.security import Identity, Scope, TokenAuth

__all__ = ["AdminBackend", "Identity", "Scope", "TokenAuth", "create_app", "with_limits"]
