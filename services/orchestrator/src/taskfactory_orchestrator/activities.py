"""Orchestrator-side activities: resolving a run's context sources (the only I/O of a run).

``http`` sources go through :class:`~taskfactory_runtime.egress.Egress`, the same egress
policy as the executor's ``http`` tasks (``TASKFACTORY_EGRESS__*``).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from taskfactory_contracts import HttpContext, PluginContext, names
from taskfactory_orchestrator.models import ResolveContextInput
from taskfactory_runtime.egress import (
    Egress,
    EgressError,
    EgressSettings,
    application_error,
    redact_url,
)

__all__ = ["ContextActivities"]


class ContextActivities:
    """Fetches HTTP JSON documents and calls context plugins; built once in ``worker.py``."""

    def __init__(self, egress: Egress | None = None) -> None:
        self._egress = egress or Egress(EgressSettings())

    @activity.defn(name=names.ACTIVITY_RESOLVE_CONTEXT)
    async def resolve_context(self, arg: ResolveContextInput) -> Any:
        """The value of one context source."""
        if isinstance(arg.source, HttpContext):
            return await self._http_json(arg.name, arg.source)
        return await self._plugin(arg.name, arg.source)

    async def _http_json(self, name: str, source: HttpContext) -> Any:
        where = f"context {name}: {source.method} {redact_url(source.url)}"
        try:
            response = await self._egress.request(
                source.method,
                source.url,
                headers=source.headers,
                json=source.body if source.method == "POST" else None,
                timeout_seconds=source.timeout.total_seconds(),
            )
        except EgressError as exc:
            raise application_error(exc, where) from exc
        if response.status >= 500 or response.status == 429:
            raise ApplicationError(f"{where}: answered {response.status}", type="HttpError")
        if response.status >= 400:
            raise ApplicationError(
                f"{where}: answered {response.status}",
                type="HttpClientError",
                non_retryable=True,
            )
        try:
            return response.json()
        except ValueError as exc:
            raise ApplicationError(
                f"{where}: did not answer JSON", type="NotJson", non_retryable=True
            ) from exc

    async def _plugin(self, name: str, source: PluginContext) -> Any:
        found = [
            ep
            for ep in entry_points(group=names.CONTEXT_PLUGIN_GROUP)
            if ep.name == source.entry_point
        ]
        if not found:
            raise ApplicationError(
                f"context {name}: no plugin {source.entry_point!r} in {names.CONTEXT_PLUGIN_GROUP}",
                type="UnknownContextPlugin",
                non_retryable=True,
            )
        fn: Callable[[dict[str, Any]], Any] = found[0].load()
        value = fn(dict(source.params))
        if hasattr(value, "__await__"):
            value = await value
        return value
