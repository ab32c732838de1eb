"""Start and stop the three taskfactory services as local processes (pid-file tracked)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from taskfactory_stack.process import StackError, TrackedProcess, tail

__all__ = ["LOOPBACK_EGRESS_ENV", "SERVICES", "ServiceSet"]

SERVICES = ("orchestrator", "executor", "ingress")
#: Local runs and tests talk to stand-in HTTP servers on 127.0.0.1: the egress policy refuses
#: loopback unless a deployment allows it, and these local ones do.
LOOPBACK_EGRESS_ENV = {"TASKFACTORY_EGRESS__ALLOWED_NETWORKS": "127.0.0.0/8,::1/128"}


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
