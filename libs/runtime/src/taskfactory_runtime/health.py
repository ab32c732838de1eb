"""The service's HTTP endpoint: ``/livez``, ``/readyz`` and ``/metrics`` (Prometheus)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    disable_created_metrics,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from taskfactory_runtime.errors import ConfigurationError
from taskfactory_runtime.http_server import HttpServer
from taskfactory_runtime.logging import get_logger
from taskfactory_runtime.settings import HttpSettings

__all__ = ["HealthServer", "ReadinessCheck"]

log = get_logger(__name__)

#: A readiness check returns ``None`` when ready, otherwise the reason it is not.
ReadinessCheck = Callable[[], str | None]


def _failing(checks: dict[str, ReadinessCheck]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, check in checks.items():
        reason = check()
        if reason is not None:
            out[name] = reason
    return out


@dataclass
class HealthServer:
    """Serves liveness, readiness and metrics; readiness is the conjunction of its checks."""

    settings: HttpSettings
    registry: CollectorRegistry = REGISTRY
    checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    #: Liveness checks (same shape): ``/livez`` fails while one of them names a reason.
    live_checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    #: More Prometheus text appended to ``/metrics`` (e.g. the Temporal SDK's own metrics).
    extra_metrics: list[Callable[[], Awaitable[str]]] = field(default_factory=list)
    _server: HttpServer | None = None
    port: int = 0

    def add_check(self, name: str, check: ReadinessCheck) -> None:
        """Readiness also requires ``check`` to return ``None``."""
        self.checks[name] = check

    def add_liveness(self, name: str, check: ReadinessCheck) -> None:
        """Liveness also requires ``check`` to return ``None``."""
        self.live_checks[name] = check

    def not_ready(self) -> dict[str, str]:
        """Each failing check with its reason; empty when ready."""
        return _failing(self.checks)

    def not_alive(self) -> dict[str, str]:
        """Each failing liveness check with its reason; empty when alive."""
        return _failing(self.live_checks)

    async def _livez(self, _: Request) -> Response:
        failing = self.not_alive()
        if failing:
            return JSONResponse({"status": "not alive", "checks": failing}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def _readyz(self, _: Request) -> Response:
        failing = self.not_ready()
        if failing:
            return JSONResponse({"status": "not ready", "checks": failing}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def _metrics(self, _: Request) -> Response:
        body = generate_latest(self.registry)
        for extra in self.extra_metrics:
            body += (await extra()).encode()
        return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> None:
        """Bind and serve; ``port`` then holds the bound port (useful with port 0)."""
        # `*_created` series double the families for no operational use.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        # Probes and scrapes carry no body, and none is ever read.
        app = Starlette(
            routes=[
                Route("/livez", self._livez),
                Route("/readyz", self._readyz),
                Route("/metrics", self._metrics),
            ]
        )
        self._server = HttpServer(
            app, host=self.settings.host, port=self.settings.port, name="health"
        )
        try:
            await self._server.start()
        except OSError as exc:
            self._server = None
            raise ConfigurationError(
                f"http: cannot listen on {self.settings.host}:{self.settings.port} "
                f"({exc.strerror}); set TASKFACTORY_HTTP__PORT to a free port, or 0 for any"
            ) from exc
        self.port = self._server.port
        # The bound port, at once: with port 0 this line is how a harness learns it (it reads
        # the first `http_port` of the log), long before the "<service> started" line.
        log.info("http endpoint serving", host=self.settings.host, http_port=self.port)

    async def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def __aenter__(self) -> HealthServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
