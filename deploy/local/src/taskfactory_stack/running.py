"""The three services of one test or chaos scenario as processes, with their HTTP ports.

Each service binds port 0 (any free port) itself and logs the port it got (``http_port``);
the HTTP helpers here wait for that line. A port picked here and handed to the child would
leave a gap in which another process can take it (``Address already in use``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from taskfactory_stack.errors import StackError
from taskfactory_stack.process import TrackedProcess, reported_port
from taskfactory_stack.services import LOOPBACK_EGRESS_ENV, SERVICES, ServiceSet

__all__ = ["RunningServices"]


class RunningServices:
    """The three services of one test as processes, with their HTTP ports."""

    def __init__(self, root: Path, env: dict[str, str], *, group: str) -> None:
        self.root = root
        self.set = ServiceSet(root)
        #: Each service's HTTP port once known: reported by its process (see :meth:`port`), or
        #: set by whoever runs the service elsewhere (e.g. as a container).
        self.ports: dict[str, int] = {}
        self._reported_by: dict[str, int] = {}  # service -> pid whose port ``ports`` holds
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
        # Port 0: each binds a free port itself and reports it (see :meth:`port`).
        per_service = {
            name: {"TASKFACTORY_HTTP__PORT": "0", **(own or {}).get(name, {})} for name in only
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

    def port(self, service: str) -> int:
        """The HTTP port of ``service``: once its process is started, waits (with a deadline)
        for the port it reports; a stopped service keeps its last one (connections are refused).

        Raises :class:`StackError` if the service exits before reporting a port, or was never
        started.
        """
        process = self.set.processes[service]
        pid = process.pid()
        if pid is not None and self._reported_by.get(service) != pid:
            # Started, or restarted since the port was read: its new log names the new port.
            self.ports[service] = reported_port(process)
            self._reported_by[service] = pid
        if service not in self.ports:
            if service not in self.set.started:
                raise StackError(f"{service}: not started, so it has no HTTP port")
            # It exited already: the port it had, or an error naming why it got none.
            self.ports[service] = reported_port(process)
        return self.ports[service]

    def url(self, service: str, path: str) -> str:
        """An HTTP URL on a service's health/metrics endpoint (waits for its port)."""
        return f"http://127.0.0.1:{self.port(service)}{path}"

    async def get(self, service: str, path: str) -> httpx.Response:
        """GET a path of a service's HTTP endpoint."""
        # Waiting for the port blocks: in a thread, so the test's own servers keep serving.
        url = await asyncio.to_thread(self.url, service, path)
        async with httpx.AsyncClient(timeout=5) as http:
            return await http.get(url)

    async def metric(self, service: str, name: str, *, label: str = "") -> float:
        """Sum of every sample of metric ``name`` on ``service``'s /metrics (only those with
        ``label``, e.g. ``found="true"``, when given)."""
        text = (await self.get(service, "/metrics")).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name)] in " {" and label in line:
                total += float(line.rsplit(" ", 1)[1])
        return total
