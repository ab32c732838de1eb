"""The admin HTTP API served by uvicorn against the real Temporal dev server.

The server runs in its own thread and event loop (with its own Temporal client), so both the
async tests and schemathesis (synchronous requests) reach it over real HTTP.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from tf_testing import wait_for

from taskfactory_contracts import ActivityDefinition
from taskfactory_orchestrator.admin.app import AdminBackend, create_app, with_limits
from taskfactory_orchestrator.schedules import ScheduleReconciler, ScheduleTarget
from taskfactory_orchestrator.schedules_ops import ScheduleOps
from taskfactory_orchestrator.settings import AdminSection

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "definitions"
UNAUTHORIZED = {"error": {"code": "unauthorized", "message": "a valid bearer token is required"}}
FORBIDDEN = {"error": {"code": "forbidden", "message": "this token may not do that"}}
LIMIT = 64 * 1024


@dataclass
class AdminServer:
    url: str
    admin: str
    read: str
    target: ScheduleTarget

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


def _target(uid: str) -> ScheduleTarget:
    return ScheduleTarget(
        f"{uid}-orchestrator",
        f"{uid}-orchestrator",
        f"{uid}.results",
        id_prefix=f"{uid}-",
        owner=uid,
    )


@pytest.fixture
def admin_server(stack: Any, uid: str, tmp_path: Path) -> Iterator[AdminServer]:
    definitions = tmp_path / "definitions"
    shutil.copytree(EXAMPLES, definitions)
    section = AdminSection(
        enabled=True,
        admin_token=SecretStr(f"{uid}-admin-token"),
        read_token=SecretStr(f"{uid}-read-token"),
        max_request_bytes=LIMIT,
    )
    target = _target(uid)
    # Bound and listening before the server starts: early requests wait in the backlog.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    box: dict[str, Any] = {}

    async def main() -> None:
        client = await Client.connect(
            stack.temporal_address, data_converter=pydantic_data_converter
        )
        backend = AdminBackend(client, ScheduleOps(ScheduleReconciler(client, target)), definitions)
        app = with_limits(create_app(backend, section), section)
        server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
        box["server"] = server
        await server.serve(sockets=[sock])

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    try:
        yield AdminServer(
            f"http://127.0.0.1:{port}", f"{uid}-admin-token", f"{uid}-read-token", target
        )
    finally:
        if "server" in box:
            box["server"].should_exit = True
        thread.join(30)
        sock.close()


def _operations(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for path, methods in openapi["paths"].items():
        concrete = path.replace("{workflow_id}", "wf/1").replace("{schedule_id}", "nothing")
        concrete = concrete.replace("{definition_id}", "nightly-report")
        out.extend((method.upper(), concrete) for method in methods)
    return out


async def test_every_endpoint_rejects_missing_and_wrong_tokens(admin_server: AdminServer) -> None:
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        openapi = (await http.get("/openapi.json")).json()
        operations = _operations(openapi)
        assert len(operations) >= 14
        wrong = [
            {},
            {"Authorization": "Bearer nope"},
            {"Authorization": f"Bearer {admin_server.admin}x"},
            {"Authorization": f"Bearer {admin_server.admin[:-1]}"},
            {"Authorization": admin_server.admin},
            {"Authorization": f"Basic {admin_server.admin}"},
        ]
        for method, path in operations:
            for headers in wrong:
                response = await http.request(method, path, headers=headers, json={})
                assert response.status_code == 401, (method, path, headers)
                assert response.json() == UNAUTHORIZED
                assert response.headers["www-authenticate"] == "Bearer"


async def test_read_token_reads_but_cannot_mutate(admin_server: AdminServer) -> None:
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        operations = _operations((await http.get("/openapi.json")).json())
        read = admin_server.auth(admin_server.read)
        readonly_posts = {"/v1/definitions/validate", "/v1/explain"}
        for method, path in operations:
            response = await http.request(method, path, headers=read, json={})
            if method == "POST" and path not in readonly_posts:
                assert response.status_code == 403, (method, path)
                assert response.json() == FORBIDDEN
            else:
                assert response.status_code not in (401, 403), (method, path, response.text)
        listed = await http.get("/v1/definitions", headers=read)
        assert "nightly-report" in {d["id"] for d in listed.json()}


async def test_errors_have_one_shape_and_bodies_are_limited(admin_server: AdminServer) -> None:
    admin = admin_server.auth(admin_server.admin)
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        big = await http.post(
            "/v1/definitions/validate",
            headers={**admin, "content-type": "text/plain"},
            content=b"x" * (LIMIT + 1),
        )
        assert big.status_code == 413
        assert big.json()["error"]["code"] == "too_large"
        missing = await http.get("/v1/schedules/someone-elses", headers=admin)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        bad = await http.post("/v1/schedules/x/backfill", headers=admin, json={"start": "no"})
        assert bad.status_code == 422
        assert bad.json()["error"]["code"] == "invalid_request"
        assert {"loc", "msg"} <= set(bad.json()["error"]["details"][0])


async def test_validate_and_explain(admin_server: AdminServer) -> None:
    read = admin_server.auth(admin_server.read)
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        good = (EXAMPLES / "nightly-report.yaml").read_text(encoding="utf-8")
        ok = await http.post(
            "/v1/definitions/validate", headers={**read, "content-type": "text/plain"}, content=good
        )
        assert ok.json() == {"valid": True, "problems": [], "definitions": ["nightly-report"]}
        broken = good.replace("version: 1", "version: 0")
        bad = await http.post(
            "/v1/definitions/validate",
            headers={**read, "content-type": "text/plain"},
            content=broken,
        )
        assert bad.json()["valid"] is False
        assert bad.json()["problems"][0]["field"] == "version"
        explained = await http.post(
            "/v1/explain",
            headers=read,
            json={"event": {"id": "e1", "source": "/t", "type": "nobody.cares", "subject": "s"}},
        )
        assert explained.status_code == 200, explained.text
        assert not any(v["matched"] for v in explained.json()["verdicts"])


async def test_schedules_through_the_api(
    admin_server: AdminServer, temporal_client: Client, uid: str
) -> None:
    doc = {
        "id": f"{uid}-api",
        "version": 1,
        "trigger": {"schedule": {"cron": ["0 2 * * *"], "timezone": "Europe/Berlin"}},
        "tasks": [{"id": "a", "type": "echo"}],
    }
    reconciler = ScheduleReconciler(temporal_client, admin_server.target)
    await reconciler.sync([ActivityDefinition.model_validate(doc)])
    sid = admin_server.target.schedule_id(doc["id"])
    admin = admin_server.auth(admin_server.admin)
    try:
        async with httpx.AsyncClient(base_url=admin_server.url) as http:

            async def listed() -> bool:
                found = (await http.get("/v1/schedules", headers=admin)).json()
                return sid in {s["id"] for s in found}

            await wait_for(listed, timeout=30, what="the schedule in the API's list")
            paused = await http.post(f"/v1/schedules/{sid}/pause?reason=api", headers=admin)
            assert paused.status_code == 200, paused.text
            described = (await http.get(f"/v1/schedules/{sid}", headers=admin)).json()
            assert described["paused"] is True
            assert described["note"] == "operator: api"
            assert described["expected_interval_seconds"] == 86400
    finally:
        await temporal_client.get_schedule_handle(sid).delete()


def test_schemathesis_finds_no_server_error(admin_server: AdminServer) -> None:
    schema = schemathesis.openapi.from_url(f"{admin_server.url}/openapi.json")
    headers = admin_server.auth(admin_server.admin)
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        no_server_error()
        checked += 1
    assert checked >= 14
