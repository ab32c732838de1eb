"""Start and stop the three taskfactory services as local processes (pid-file tracked)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from taskfactory_stack.errors import StackError
from taskfactory_stack.process import TrackedProcess, tail

__all__ = ["LOOPBACK_EGRESS_ENV", "SERVICES", "OwnNames", "ServiceEnv", "ServiceSet"]

SERVICES = ("orchestrator", "executor", "ingress")
#: Local runs and tests talk to stand-in HTTP servers on 127.0.0.1: the egress policy refuses
#: loopback unless a deployment allows it, and these local ones do.
LOOPBACK_EGRESS_ENV = {"TASKFACTORY_EGRESS__ALLOWED_NETWORKS": "127.0.0.0/8,::1/128"}


@dataclass(frozen=True)
class OwnNames:
    """The topics, consumer group and task queues of one test, chaos scenario or bench rig,
    all named after its ``prefix`` (so runs beside it never meet its records or runs)."""

    prefix: str

    @property
    def events(self) -> str:
        """The events topic."""
        return f"{self.prefix}.events"

    @property
    def results(self) -> str:
        """The results topic."""
        return f"{self.prefix}.results"

    @property
    def runs(self) -> str:
        """The run-summary topic."""
        return f"{self.prefix}.runs"

    @property
    def dead_letter(self) -> str:
        """The dead-letter topic."""
        return f"{self.prefix}.events.dlq"

    @property
    def topics(self) -> list[str]:
        """Every topic above."""
        return [self.events, self.results, self.runs, self.dead_letter]

    @property
    def group(self) -> str:
        """The ingress's consumer group."""
        return f"{self.prefix}-ingress"

    @property
    def orchestrator_queue(self) -> str:
        """The orchestrator's task queue."""
        return f"{self.prefix}-orchestrator"

    @property
    def executor_queue(self) -> str:
        """The executor's task queue."""
        return f"{self.prefix}-executor"

    @property
    def schedule_prefix(self) -> str:
        """What the ids of the schedules its orchestrator creates start with."""
        return f"{self.prefix}-"

    def env(self) -> dict[str, str]:
        """The services' settings for these names."""
        return {
            "TASKFACTORY_TOPICS__EVENTS": self.events,
            "TASKFACTORY_TOPICS__RESULTS": self.results,
            "TASKFACTORY_TOPICS__RUNS": self.runs,
            "TASKFACTORY_TOPICS__DEAD_LETTER": self.dead_letter,
            "TASKFACTORY_INGRESS__GROUP_ID": self.group,
            "TASKFACTORY_TEMPORAL__ORCHESTRATOR_TASK_QUEUE": self.orchestrator_queue,
            "TASKFACTORY_TEMPORAL__EXECUTOR_TASK_QUEUE": self.executor_queue,
            "TASKFACTORY_SCHEDULES__ID_PREFIX": self.schedule_prefix,
        }


@dataclass(frozen=True)
class ServiceEnv:
    """The environment that configures ingress, orchestrator and executor for one stack: the
    one place tests, chaos scenarios, benchmarks and ``make run`` build it."""

    kafka_bootstrap: str
    temporal_address: str
    definitions: Path
    #: Their own topics, group and queues; ``None``: the services' defaults (``make run``).
    own: OwnNames | None = None
    replication_factor: int | None = None
    otlp_endpoint: str | None = None
    schema_registry_url: str | None = None

    def env(self) -> dict[str, str]:
        """``TASKFACTORY_*`` variables to add to a service's environment."""
        out = {
            "TASKFACTORY_KAFKA__BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "TASKFACTORY_TEMPORAL__ADDRESS": self.temporal_address,
            "TASKFACTORY_DEFINITIONS_DIR": str(self.definitions),
            **(self.own.env() if self.own else {}),
        }
        if self.replication_factor is not None:
            out["TASKFACTORY_TOPICS__REPLICATION_FACTOR"] = str(self.replication_factor)
        if self.otlp_endpoint:
            out["TASKFACTORY_TRACING__OTLP_ENDPOINT"] = self.otlp_endpoint
        if self.schema_registry_url:
            out["TASKFACTORY_KAFKA__SCHEMA_REGISTRY_URL"] = self.schema_registry_url
        return out


class ServiceSet:
    """The services of one stack folder, each a ``python -m taskfactory_<name>`` process."""

    def __init__(self, root: Path, *, prefix: str = "") -> None:
        self.root = root
        self.processes = {
            name: TrackedProcess(
                f"{prefix}{name}",
                root / "run" / f"{prefix}{name}.pid",
                root / "logs" / f"{prefix}{name}.log",
            )
            for name in SERVICES
        }
        self.started: list[str] = []

    def start(
        self,
        env: dict[str, str],
        *,
        cwd: Path,
        per_service: dict[str, dict[str, str]] | None = None,
        only: tuple[str, ...] = SERVICES,
    ) -> None:
        """Start the services with ``env`` (and their ``per_service`` env) added to ours."""
        for name in only:
            process = self.processes[name]
            if process.pid() is not None:
                raise StackError(f"{name}: already running (pid {process.pid()}); stop it first")
            full = {**os.environ, **env, **(per_service or {}).get(name, {})}
            process.log_file.unlink(missing_ok=True)
            process.start([sys.executable, "-m", f"taskfactory_{name}"], env=full, cwd=cwd)
            self.started.append(name)

    def check(self) -> None:
        """Raise naming the first started service that exited, with its last log lines."""
        for name in self.started:
            process = self.processes[name]
            if process.pid() is None:
                raise StackError(
                    f"{name}: exited; last log lines "
                    f"({process.log_file}):\n{tail(process.log_file)}"
                )

    def stop(self) -> list[str]:
        """SIGTERM each service (graceful drain), SIGKILL after the deadline."""
        return [name for name, p in reversed(self.processes.items()) if p.stop(timeout=30)]

    def running(self) -> dict[str, int]:
        """Name → pid of each running service."""
        out = {}
        for name, process in self.processes.items():
            pid = process.pid()
            if pid is not None:
                out[name] = pid
        return out
