"""Start and stop the three taskfactory services as local processes (pid-file tracked)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from taskfactory_stack.process import StackError, TrackedProcess, tail

__all__ = ["SERVICES", "ServiceSet"]

SERVICES = ("orchestrator", "executor", "ingress")


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

    def start(self, env: dict[str, str], *, cwd: Path) -> None:
        """Start every service with ``env`` added to this process's environment."""
        full = {**os.environ, **env}
        for name, process in self.processes.items():
            if process.pid() is not None:
                raise StackError(f"{name}: already running (pid {process.pid()}); stop it first")
            process.log_file.unlink(missing_ok=True)
            process.start([sys.executable, "-m", f"taskfactory_{name}"], env=full, cwd=cwd)

    def check(self) -> None:
        """Raise naming the first service that exited, with its last log lines."""
        for name, process in self.processes.items():
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
