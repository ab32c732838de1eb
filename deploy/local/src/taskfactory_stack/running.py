"""The three services of one test or chaos scenario as processes, with their HTTP ports."""

from __future__ import annotations

from pathlib import Path

import httpx

from taskfactory_stack.process import TrackedProcess, free_port
from taskfactory_stack.services import LOOPBACK_EGRESS_ENV, SERVICES, ServiceSet

__all__ = ["RunningServices"]


class RunningServices:
    """The three services of one test as processes, with their HTTP ports."""

    def __init__(self, root: Path, env: dict[str, str], *, group: str) -> None:
        self.root = root
        self.set = ServiceSet(root)
        self.ports = {name: free_port() for name in SERVICES}
        self.group = group
        # The tests' stand-in HTTP servers listen on 127.0.0.1 (refused by default).
        self.env = {**LOOPBACK_EGRESS_ENV, **env}
        self.definitions = root / "definitions"
        self.definitions.mkdir(exist_ok=True)
        self.replicas: list[ServiceSet] = []

    def start(
        self, only: tuple[str, ...] = SERVICES, *, own: dict[str, dict[str, str]] | None = None
    ) -> None:
        """Start the services (write definitions into ``self.definitions`` first).

        ``own`` adds environment of single services (e.g. each one's Kafka credentials).
        """
        per_service = {
            n: {"TASKFACTORY_HTTP__PORT": str(p), **(own or {}).get(n, {})}
            for n, p in self.ports.items()
        }
        self.set.start(self.env, cwd=self.root, per_service=per_service, only=only)

    def stop_all(self) -> None:
        """Stop every service this test started, and the extra replicas."""
        self.set.stop()
        for extra in self.replicas:
            extra.stop()

    def logs(self) -> dict[str, str]:
        """Each started process's log text."""
        out = {}
        for group in (self.set, *self.replicas):
            for process in group.processes.values():
                if process.log_file.exists():
                    out[process.name] = process.log_file.read_text(errors="replace")
        return out

    def add_ingress_replica(self, name: str) -> TrackedProcess:
        """Start one more ingress process in the same consumer group."""
        replica = ServiceSet(self.root, prefix=f"{name}-")
        replica.start(
            self.env,
            cwd=self.root,
            per_service={"ingress": {"TASKFACTORY_HTTP__PORT": "0"}},
            only=("ingress",),
        )
        self.replicas.append(replica)
        return replica.processes["ingress"]

    def url(self, service: str, path: str) -> str:
        """An HTTP URL on a service's health/metrics endpoint."""
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    async def get(self, service: str, path: str) -> httpx.Response:
        """GET a path of a service's HTTP endpoint."""
        async with httpx.AsyncClient(timeout=5) as http:
            return await http.get(self.url(service, path))

    async def metric(self, service: str, name: str, *, label: str = "") -> float:
        """Sum of every sample of metric ``name`` on ``service``'s /metrics (only those with
        ``label``, e.g. ``found="true"``, when given)."""
        text = (await self.get(service, "/metrics")).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name)] in " {" and label in line:
                total += float(line.rsplit(" ", 1)[1])
        return total
