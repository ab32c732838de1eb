"""Jaeger v2 (all-in-one, in-memory) built from its Go module, so traces have somewhere to go."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from taskfactory_stack.component import Component, packaged_file
from taskfactory_stack.gobuild import build_go_command
from taskfactory_stack.process import TrackedProcess

__all__ = ["JAEGER_MODULE", "BackgroundJaeger", "JaegerComponent"]

JAEGER_MODULE = "github.com/jaegertracing/jaeger"


@dataclass
class JaegerComponent(Component):
    """Jaeger's OTLP receiver and query UI on loopback ports."""

    name: str = "jaeger"
    #: Where Jaeger also writes every span for Zipkin's UI (a Kafka bootstrap), if anywhere.
    zipkin_brokers: str | None = None

    @property
    def ports(self) -> tuple[int, ...]:
        s = self.settings
        return (
            s.jaeger_ui_port,
            s.jaeger_otlp_grpc_port,
            s.jaeger_otlp_http_port,
            s.jaeger_query_grpc_port,
            s.jaeger_health_port,
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.settings.jaeger_otlp_grpc_port}"

    @property
    def extra(self) -> str:
        # Built from its Go module, Jaeger carries no UI assets: its query API is what answers.
        return f"API http://127.0.0.1:{self.settings.jaeger_ui_port} (traces: taskfactory trace)"

    @property
    def otlp_endpoint(self) -> str:
        """Where services export spans (OTLP gRPC)."""
        return f"http://{self.address}"

    @property
    def binary(self) -> Path:
        """The built ``jaeger`` binary (cached across `down`/`up`)."""
        jars = self.settings.jars_dir.resolve().parent if self.settings.jars_dir else None
        base = jars or self.settings.root
        return base / "jaeger" / self.settings.jaeger_version / "jaeger"

    def _build(self) -> None:
        build_go_command(
            "jaeger",
            JAEGER_MODULE,
            self.settings.jaeger_version,
            "./cmd/jaeger",
            self.binary,
        )

    def prepare(self) -> None:
        if not self.binary.exists():
            self._build()
        conf = self.settings.root / "jaeger" / "config.yaml"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(self.config())

    def config(self) -> str:
        """Jaeger's configuration: OTLP in, memory storage, query API (and Zipkin's feed)."""
        s = self.settings
        exporters, blocks = "", ""
        if self.zipkin_brokers:
            from taskfactory_stack.zipkin import jaeger_exporter

            name, blocks = jaeger_exporter(self.zipkin_brokers)
            exporters = f", {name}"
        return (
            packaged_file("jaeger.yaml")
            .replace("@UI_PORT@", str(s.jaeger_ui_port))
            .replace("@OTLP_GRPC_PORT@", str(s.jaeger_otlp_grpc_port))
            .replace("@OTLP_HTTP_PORT@", str(s.jaeger_otlp_http_port))
            .replace("@QUERY_GRPC_PORT@", str(s.jaeger_query_grpc_port))
            .replace("@HEALTH_PORT@", str(s.jaeger_health_port))
            .replace("@MORE_EXPORTERS@", exporters)
            .replace("@EXPORTER_BLOCKS@", blocks)
        )

    def argv(self) -> tuple[list[str], dict[str, str]]:
        conf = self.settings.root / "jaeger" / "config.yaml"
        return [str(self.binary), "--config", f"file:{conf}"], dict(os.environ)

    async def probe(self) -> str | None:
        import httpx

        try:
            async with httpx.AsyncClient(timeout=3) as http:
                health = await http.get(
                    f"http://127.0.0.1:{self.settings.jaeger_health_port}/status"
                )
                if health.status_code != 200:
                    return f"health {health.status_code}"
                query = await http.get(
                    f"http://127.0.0.1:{self.settings.jaeger_ui_port}/api/services"
                )
                return None if query.status_code == 200 else f"query API {query.status_code}"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"


@dataclass
class BackgroundJaeger:
    """Builds Jaeger and starts it in a process of its own, so a cold start need not wait.

    The first build from the Go module takes minutes (about 8 on two cores); the rest of the
    stack and the services start meanwhile, their spans are exported to Jaeger's address
    from the start and arrive once it listens. The process is ``taskfactory-stack up --only
    jaeger``, tracked by a pid file in ``folder``, so
    :meth:`stop` ends a build still under way, ``go build`` included.
    """

    component: JaegerComponent
    folder: Path

    @property
    def process(self) -> TrackedProcess:
        """The build-and-start process."""
        return TrackedProcess(
            "jaeger-build",
            self.folder / "run" / "jaeger-build.pid",
            self.folder / "logs" / "jaeger-build.log",
        )

    def needed(self) -> bool:
        """Whether Jaeger still has to be built (a warm machine has the binary cached)."""
        return not self.component.binary.exists()

    def start(self) -> None:
        """Build and start Jaeger in the background."""
        self.process.start(
            [sys.executable, "-m", "taskfactory_stack", "up", "--only", "jaeger"],
            env=dict(os.environ),
            cwd=Path.cwd(),
        )

    def state(self) -> Literal["building", "up", "failed"]:
        """Where the background work is."""
        pid = self.process.pid()
        if pid is not None:
            # Reap it if it ended (our child): a zombie still looks alive to the pid file.
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
            if self.process.pid() is not None:
                return "building"
        return "up" if self.component.process.pid() is not None else "failed"

    def stop(self) -> bool:
        """End a build still under way; True if one was."""
        return self.process.stop()
