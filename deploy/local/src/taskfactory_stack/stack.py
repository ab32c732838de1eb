"""Bring the whole local stack up or down, idempotently."""

from __future__ import annotations

import shutil
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from taskfactory_stack.component import Component
from taskfactory_stack.components import KafkaComponent
from taskfactory_stack.errors import StackError
from taskfactory_stack.jaeger import JaegerComponent
from taskfactory_stack.profiles import components
from taskfactory_stack.settings import StackSettings

__all__ = ["ComponentStatus", "Stack"]


@dataclass(frozen=True)
class ComponentStatus:
    """One row of ``status``."""

    name: str
    address: str
    pid: int | None
    health: str
    extra: str


class Stack:
    """Kafka and Temporal as local processes tracked in ``settings.dir``."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.components: list[Component] = components(self.settings)

    def up(self, *, skip: Collection[str] = ()) -> list[str]:
        """Start what is not running (but ``skip``); returns the names of what it started."""
        started: list[str] = []
        try:
            for component in self.components:
                if component.name not in skip and component.up():
                    started.append(component.name)
        except BaseException:
            for component in self.components:
                if component.name in started:
                    component.down()
            raise
        return started

    def down(self, only: list[str] | None = None) -> list[str]:
        """Stop what the stack started (in reverse order); returns what it stopped."""
        stopped = []
        for component in reversed(self.components):
            if (only is None or component.name in only) and component.down():
                stopped.append(component.name)
        return stopped

    def reset(self) -> list[Path]:
        """Remove what the stopped stack keeps (topics, histories, schemas); returns what went.

        Downloads and builds stay. Refused while any component runs: it holds the files open.
        """
        running = [c.name for c in self.components if c.process.pid() is not None]
        if running:
            raise StackError(
                f"{', '.join(running)} still running; stop the stack first (taskfactory-stack down)"
            )
        removed = []
        for path in (p for c in self.components for p in c.state):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
            else:
                continue
            removed.append(path)
        return removed

    def status(self) -> list[ComponentStatus]:
        """Each component with address, pid and a live health probe."""
        rows = []
        for component in self.components:
            pid = component.process.pid()
            if pid is None:
                health = "stopped"
            else:
                reason = component.probe_now()
                health = "healthy" if reason is None else f"unhealthy: {reason}"
            rows.append(
                ComponentStatus(component.name, component.address, pid, health, component.extra)
            )
        return rows

    def running(self) -> bool:
        """Whether every component is running."""
        return all(c.process.pid() is not None for c in self.components)

    @property
    def kafka_bootstrap(self) -> str:
        """Every broker's address, comma-separated."""
        return ",".join(c.address for c in self.components if isinstance(c, KafkaComponent))

    @property
    def temporal_address(self) -> str:
        """The Temporal frontend address."""
        return next(c.address for c in self.components if c.name.startswith("temporal"))

    @property
    def replication_factor(self) -> int:
        """Replication factor of the topics taskfactory creates on this stack (at most 3)."""
        return min(3, sum(isinstance(c, KafkaComponent) for c in self.components))

    @property
    def schema_registry_url(self) -> str | None:
        """The schema registry's Confluent-compatible API, if the stack runs one."""
        from taskfactory_stack.registry import RegistryComponent

        found = next((c for c in self.components if isinstance(c, RegistryComponent)), None)
        return found.url if found else None

    @property
    def _jaeger(self) -> JaegerComponent | None:
        return next((c for c in self.components if isinstance(c, JaegerComponent)), None)

    @property
    def otlp_endpoint(self) -> str | None:
        """Where services send traces (Jaeger's OTLP gRPC receiver), if Jaeger runs."""
        jaeger = self._jaeger
        return jaeger.otlp_endpoint if jaeger else None

    @property
    def jaeger_ui(self) -> str | None:
        """Jaeger's UI and query API, if Jaeger runs."""
        jaeger = self._jaeger
        return f"http://127.0.0.1:{jaeger.settings.jaeger_ui_port}" if jaeger else None

    @property
    def trace_ui(self) -> str | None:
        """Zipkin's UI, where a person looks at traces, if the stack runs it."""
        from taskfactory_stack.zipkin import ZipkinComponent

        found = next((c for c in self.components if isinstance(c, ZipkinComponent)), None)
        return found.ui if found else None
