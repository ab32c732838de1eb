"""/livez answers from its liveness checks, apart from readiness."""

from __future__ import annotations

import httpx

from taskfactory_runtime.health import HealthServer
from taskfactory_runtime.settings import HttpSettings


async def test_livez_fails_while_a_liveness_check_names_a_reason() -> None:
    server = HealthServer(HttpSettings(host="127.0.0.1", port=0))
    state: dict[str, str | None] = {"worker": None, "temporal": "unreachable"}
    server.add_check("temporal", lambda: state["temporal"])
    server.add_liveness("worker", lambda: state["worker"])
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            # Not ready is not dead: an outage must not get the pod restarted.
            assert (await http.get("/readyz")).status_code == 503
            assert (await http.get("/livez")).json() == {"status": "ok"}
            state["worker"] = "worker poll loop ended: namespace gone"
            dead = await http.get("/livez")
            assert dead.status_code == 503
            assert dead.json() == {
                "status": "not alive",
                "checks": {"worker": "worker poll loop ended: namespace gone"},
            }
    finally:
        await server.stop()
