"""The executor's and orchestrator's probes as Kubernetes sees them, against the real Temporal.

``/readyz`` holds only while Temporal answers and the server sees the worker poll; ``/livez``
fails once the worker's poll loop has died, and only then (an outage is no reason to restart).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from support.tcp_proxy import TcpProxy, private_temporal_server

from taskfactory_stack.running import RunningServices
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

WORKERS = ("executor", "orchestrator")


async def _status(
    services: RunningServices, service: str, path: str
) -> tuple[int, dict[str, object]]:
    response = await services.get(service, path)
    return response.status_code, response.json()


def _ready(services: RunningServices, service: str, want: int = 200):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        services.set.check()
        try:
            code, _ = await _status(services, service, "/readyz")
        except httpx.ConnectError:  # not listening yet
            return False
        return code == want

    return check


async def test_readyz_follows_temporal_and_livez_stays_up_through_an_outage(
    services: RunningServices,
) -> None:
    async with TcpProxy.running(services.env["TASKFACTORY_TEMPORAL__ADDRESS"]) as proxy:
        services.env["TASKFACTORY_TEMPORAL__ADDRESS"] = proxy.address
        services.start(only=WORKERS)
        for service in WORKERS:
            await wait_for(_ready(services, service), timeout=90, what=f"{service} ready")
            code, body = await _status(services, service, "/readyz")
            assert (code, body["status"]) == (200, "ready")

        await proxy.cut()  # Temporal unreachable
        for service in WORKERS:
            await wait_for(_ready(services, service, 503), timeout=60, what=f"{service} not ready")
            code, body = await _status(services, service, "/readyz")
            assert code == 503
            checks = body["checks"]
            assert isinstance(checks, dict)
            assert "temporal" in checks, body
            # Restarting cannot bring Temporal back: the process is alive.
            code, body = await _status(services, service, "/livez")
            assert (code, body["status"]) == (200, "ok")

        await proxy.open()  # Temporal back: ready again without a restart
        for service in WORKERS:
            await wait_for(_ready(services, service), timeout=90, what=f"{service} ready again")
            code, _ = await _status(services, service, "/livez")
            assert code == 200


async def test_livez_fails_when_the_worker_poll_loop_dies(
    services: RunningServices, tmp_path: Path
) -> None:
    # The workers poll namespace `ns` on a Temporal of their own; the proxy then sends them to
    # the shared Temporal, which has no such namespace: every poll is refused (NotFound), the
    # SDK ends the poll loop, and the processes stay up with a failing /livez.
    namespace = f"probe-{uuid.uuid4().hex[:8]}"
    async with (
        private_temporal_server(tmp_path, namespace=namespace) as private,
        TcpProxy.running(private) as proxy,
    ):
        shared = services.env["TASKFACTORY_TEMPORAL__ADDRESS"]
        services.env["TASKFACTORY_TEMPORAL__ADDRESS"] = proxy.address
        services.env["TASKFACTORY_TEMPORAL__NAMESPACE"] = namespace
        services.start(only=WORKERS)
        for service in WORKERS:
            await wait_for(_ready(services, service), timeout=90, what=f"{service} ready")
            assert (await _status(services, service, "/livez"))[0] == 200

        await proxy.retarget(shared)

        for service in WORKERS:

            async def dead(service: str = service) -> bool:
                code, _ = await _status(services, service, "/livez")
                return code == 503

            await wait_for(dead, timeout=120, what=f"{service} /livez failing")
            code, body = await _status(services, service, "/livez")
            assert (code, body["status"]) == (503, "not alive")
            checks = body["checks"]
            assert isinstance(checks, dict)
            assert "worker poll loop ended" in str(checks["worker"])
            assert namespace in str(checks["worker"])  # the reason names what is wrong
            assert (await _status(services, service, "/readyz"))[0] == 503
        services.set.check()  # both processes still up, serving their probes
        logs = services.logs()
        for service in WORKERS:
            assert "worker stopped polling" in logs[service]
