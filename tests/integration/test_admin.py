"""The admin HTTP API served by uvicorn against the real Temporal dev server.

The server runs in its own thread and event loop (with its own Temporal client and a real
orchestrator worker on the test's task queue, executor activities mocked by name), so both
the async tests and schemathesis (synchronous requests) reach it over real HTTP, and the
runs they act on are real runs: waiting for an approval, running, finished.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from support.orchestrator_harness import FakeExecutor, definition, harness, trigger
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from taskfactory_contracts import ActivityDefinition, RunActivityInput, names
from taskfactory_orchestrator.admin.app import AdminBackend, create_app, with_limits
from taskfactory_orchestrator.schedules.ops import ScheduleOps
from taskfactory_orchestrator.schedules.reconciler import ScheduleReconciler, ScheduleTarget
from taskfactory_orchestrator.settings import AdminSection, Principal
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "definitions"
UNAUTHORIZED = {"error": {"code": "unauthorized", "message": "a valid bearer token is required"}}
LIMIT = 64 * 1024
CHECK_SECONDS = 5.0


@dataclass
class AdminServer:
    url: str
    tokens: dict[str, str]
    target: ScheduleTarget
    queue: str
    executor: FakeExecutor

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


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
    alice_file = tmp_path / "alice-token"
    alice_file.write_text(f"{uid}-alice-token\n")
    tokens = {
        "admin": f"{uid}-admin-token",
        "read": f"{uid}-read-token",
        "alice": f"{uid}-alice-token",
        "mallory": f"{uid}-mallory-token",
    }
    section = AdminSection(
        enabled=True,
        admin_token=SecretStr(tokens["admin"]),
        read_token=SecretStr(tokens["read"]),
        principals=(
            Principal(
                name="alice", scope="approve", groups=("credit-team",), token_file=alice_file
            ),
            Principal(name="mallory", scope="approve", token=SecretStr(tokens["mallory"])),
        ),
        max_request_bytes=LIMIT,
        validate_timeout_seconds=CHECK_SECONDS,
    )
    target = _target(uid)
    queue = target.orchestrator_task_queue
    executor = FakeExecutor()
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
        backend = AdminBackend(
            client, ScheduleOps(ScheduleReconciler(client, target)), definitions, task_queue=queue
        )
        app = with_limits(create_app(backend, section), section)
        server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
        box["server"] = server
        async with harness(client, queue, executor):
            await server.serve(sockets=[sock])

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    try:
        yield AdminServer(f"http://127.0.0.1:{port}", tokens, target, queue, executor)
    finally:
        if "server" in box:
            box["server"].should_exit = True
        thread.join(60)
        sock.close()


# ---- real runs -------------------------------------------------------------------------------
APPROVAL = {
    "id": "review",
    "type": "approval",
    "needs": ["score"],
    "approval": {"deadline": "P3D", "approvers": ["credit-team"]},
}


def _approval_run() -> ActivityDefinition:
    return definition(
        {
            "tasks": [
                {"id": "score", "type": "echo"},
                APPROVAL,
                {"id": "pay-out", "type": "echo", "needs": ["review"]},
            ]
        }
    )


async def _start(
    client: Client, queue: str, defn: ActivityDefinition, *, wid: str | None = None
) -> WorkflowHandle[Any, Any]:
    trig = trigger()
    return await client.start_workflow(
        names.WORKFLOW_RUN_ACTIVITY,
        RunActivityInput(
            definition=defn, trigger=trig, results_topic="results", executor_task_queue=queue
        ),
        id=wid or f"{queue}/{trig.envelope.id}",
        task_queue=queue,
    )


async def _phase(http: httpx.AsyncClient, server: AdminServer, wid: str, task: str) -> str:
    response = await http.get(f"/v1/runs/{wid}/status", headers=server.auth("read"))
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    phase: str = response.json()["tasks"][task]["phase"]
    return phase


@dataclass
class Runs:
    waiting: str
    running: str
    finished: str
    foreign: str


@pytest.fixture
async def runs(admin_server: AdminServer, temporal_client: Client, uid: str) -> AsyncIterator[Runs]:
    """A run waiting for approval, one running (a gated task), one finished, one not ours."""
    queue = admin_server.queue
    admin_server.executor.gates["slow"] = asyncio.Event()  # never set: the task runs on
    waiting = await _start(temporal_client, queue, _approval_run())
    running = await _start(
        temporal_client, queue, definition({"tasks": [{"id": "slow", "type": "slow"}]})
    )
    finished = await _start(
        temporal_client, queue, definition({"tasks": [{"id": "a", "type": "echo"}]})
    )
    await finished.result()
    # Same workflow type, another deployment's task queue (nothing polls it): not ours.
    foreign = await _start(
        temporal_client, f"{uid}-someone-else", _approval_run(), wid=f"{uid}-foreign/1"
    )
    async with httpx.AsyncClient(base_url=admin_server.url) as http:

        async def ready() -> bool:
            return (
                await _phase(http, admin_server, waiting.id, "review") == "waiting_approval"
                and await _phase(http, admin_server, running.id, "slow") == "running"
            )

        await wait_for(ready, timeout=60, what="the runs to wait and run")
    try:
        yield Runs(waiting.id, running.id, finished.id, foreign.id)
    finally:
        for handle in (waiting, running, foreign):
            try:
                await handle.terminate("test over")
            except Exception:
                continue


# ---- authentication, scopes, limits ----------------------------------------------------------
def _operations(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for path, methods in openapi["paths"].items():
        concrete = path.replace("{workflow_id}", "wf/1").replace("{schedule_id}", "nothing")
        concrete = concrete.replace("{definition_id}", "nightly-report")
        out.extend((method.upper(), concrete) for method in methods)
    return out


async def test_every_endpoint_and_the_openapi_document_reject_missing_and_wrong_tokens(
    admin_server: AdminServer,
) -> None:
    admin = admin_server.tokens["admin"]
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        anonymous = await http.get("/openapi.json")
        assert anonymous.status_code == 401
        openapi = (await http.get("/openapi.json", headers=admin_server.auth("read"))).json()
        operations = [*_operations(openapi), ("GET", "/openapi.json"), ("GET", "/nowhere")]
        assert len(operations) >= 16
        wrong = [
            {},
            {"Authorization": "Bearer nope"},
            {"Authorization": f"Bearer {admin}x"},
            {"Authorization": f"Bearer {admin[:-1]}"},
            {"Authorization": admin},
            {"Authorization": f"Basic {admin}"},
        ]
        for method, path in operations:
            for headers in wrong:
                response = await http.request(method, path, headers=headers, json={})
                assert response.status_code == 401, (method, path, headers)
                assert response.json() == UNAUTHORIZED
                assert response.headers["www-authenticate"] == "Bearer"


async def test_each_scope_reads_approves_or_changes_as_allowed(admin_server: AdminServer) -> None:
    readonly_posts = {"/v1/definitions/validate", "/v1/explain"}
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        operations = _operations(
            (await http.get("/openapi.json", headers=admin_server.auth("read"))).json()
        )
        for who in ("read", "alice"):
            for method, path in operations:
                response = await http.request(method, path, headers=admin_server.auth(who), json={})
                allowed = method == "GET" or path in readonly_posts
                allowed = allowed or (who == "alice" and path.endswith("/approve"))
                if allowed:
                    assert response.status_code not in (401, 403), (who, method, path)
                else:
                    assert response.status_code == 403, (who, method, path, response.text)
                    assert response.json()["error"]["code"] == "forbidden"
                    assert f"'{who}' may not do that" in response.json()["error"]["message"]
        listed = await http.get("/v1/definitions", headers=admin_server.auth("read"))
        assert "nightly-report" in {d["id"] for d in listed.json()}


async def _chunks(size: int) -> AsyncIterator[bytes]:
    for _ in range(size // 4096 + 1):
        yield b"x" * 4096


async def test_bodies_over_the_limit_are_413_chunked_too_and_never_read_before_auth(
    admin_server: AdminServer,
) -> None:
    text = {"content-type": "text/plain"}
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        declared = await http.post(
            "/v1/definitions/validate",
            headers={**admin_server.auth("read"), **text},
            content=b"x" * (LIMIT + 1),
        )
        assert declared.status_code == 413
        assert declared.json()["error"]["code"] == "too_large"
        chunked = await http.post(
            "/v1/definitions/validate",
            headers={**admin_server.auth("read"), **text},
            content=_chunks(LIMIT + 1),
        )
        assert "content-length" not in chunked.request.headers
        assert chunked.status_code == 413
        assert chunked.json()["error"]["code"] == "too_large"
        anonymous = await http.post(
            "/v1/definitions/validate", headers=text, content=_chunks(LIMIT * 4)
        )
        assert anonymous.status_code == 401
        missing = await http.get("/v1/schedules/someone-elses", headers=admin_server.auth("admin"))
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        bad = await http.post(
            "/v1/schedules/x/backfill", headers=admin_server.auth("admin"), json={"start": "no"}
        )
        assert bad.status_code == 422
        assert bad.json()["error"]["code"] == "invalid_request"
        assert {"loc", "msg"} <= set(bad.json()["error"]["details"][0])


async def test_filters_that_would_break_the_visibility_query_are_refused(
    admin_server: AdminServer,
) -> None:
    """Found by schemathesis: a NUL in a filter cut the dev server's query short (503), and a
    "?" broke the PostgreSQL-backed server's visibility query (503 on the cluster profile)."""
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        for value in ("a\x00b", "it's", 'say "x"', "back\\slash", "line\nbreak", "what?"):
            for name in ("definition", "subject"):
                response = await http.get(
                    "/v1/runs", params={name: value}, headers=admin_server.auth("read")
                )
                assert response.status_code == 422, (name, value, response.text)
        fine = await http.get(
            "/v1/runs", params={"subject": "ünïcode €"}, headers=admin_server.auth("read")
        )
        assert fine.status_code == 200, fine.text


# ---- approvals: the approver is who called ----------------------------------------------------
async def test_the_approver_is_the_authenticated_principal_checked_against_approvers(
    admin_server: AdminServer, runs: Runs
) -> None:
    path = f"/v1/runs/{runs.waiting}/approve"
    decision = {"task_id": "review", "approved": True, "comment": "income verified"}
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        for who in ("mallory", "admin"):  # may approve in general, not this task
            refused = await http.post(path, headers=admin_server.auth(who), json=decision)
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"]["code"] == "not_an_approver"
            assert f"'{who}' may not decide 'review'" in refused.json()["error"]["message"]
        claimed = await http.post(
            path, headers=admin_server.auth("mallory"), json={**decision, "by": "credit-team"}
        )
        assert claimed.status_code == 422, "`by` is not the caller's to choose"
        wrong_task = await http.post(
            path, headers=admin_server.auth("alice"), json={**decision, "task_id": "score"}
        )
        assert wrong_task.status_code == 409
        assert "not waiting for approval" in wrong_task.json()["error"]["message"]
        granted = await http.post(path, headers=admin_server.auth("alice"), json=decision)
        assert granted.status_code == 200, granted.text
        assert granted.json()["state"]["decided_by"] == "alice"
        again = await http.post(path, headers=admin_server.auth("alice"), json=decision)
        assert again.status_code == 409, again.text

        async def paid() -> bool:
            return await _phase(http, admin_server, runs.waiting, "pay-out") == "succeeded"

        await wait_for(paid, timeout=60, what="the approved run to pay out")
    review = admin_server.executor.result("review")
    assert review.output_json is not None
    assert '"by":"alice"' in review.output_json


async def test_runs_endpoints_act_only_on_runs_this_taskfactory_started(
    admin_server: AdminServer, runs: Runs, temporal_client: Client
) -> None:
    admin = admin_server.auth("admin")
    async with httpx.AsyncClient(base_url=admin_server.url) as http:
        for method, suffix, body in (
            ("GET", "status", None),
            ("POST", "cancel", None),
            ("POST", "approve", {"task_id": "review", "approved": True}),
        ):
            response = await http.request(
                method, f"/v1/runs/{runs.foreign}/{suffix}", headers=admin, json=body
            )
            assert response.status_code == 404, (suffix, response.text)
            assert response.json()["error"]["code"] == "not_found"
        listed = (await http.get("/v1/runs", headers=admin)).json()
        assert runs.foreign not in {r["workflow_id"] for r in listed}
        finished = await http.post(f"/v1/runs/{runs.finished}/cancel", headers=admin)
        assert finished.status_code == 409
        assert "completed" in finished.json()["error"]["message"]
        cancelled = await http.post(f"/v1/runs/{runs.running}/cancel", headers=admin)
        assert cancelled.status_code == 200, cancelled.text
    description = await temporal_client.get_workflow_handle(runs.foreign).describe()
    assert description.status is not None
    assert description.status.name == "RUNNING", "the foreign run was not touched"


# ---- checks off the event loop ---------------------------------------------------------------
def _alias_bomb(levels: int) -> str:
    """A valid definition whose task params hold 10**levels strings through YAML aliases.

    Six levels (534 bytes) cost seconds of CPU to load without alias bounds, each level ten
    times more.
    """
    lines = ["id: bomb", "version: 1", "trigger:", "  event_types: [x.y]", "tasks:"]
    lines += ["  - id: anchors", "    type: echo", "    params:"]
    lines.append('      a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]')
    for n in range(1, levels):
        refs = ", ".join([f"*a{n - 1}"] * 10)
        lines.append(f"      a{n}: &a{n} [{refs}]")
    lines += ["  - id: t", "    type: echo", "    params:", f"      v: *a{levels - 1}"]
    return "\n".join(lines) + "\n"


async def test_a_costly_definition_never_stalls_the_api(admin_server: AdminServer) -> None:
    """An alias bomb is refused fast (loader bounds) or abandoned after the time limit (503);
    meanwhile the same server answers other requests."""
    read = admin_server.auth("read")
    async with httpx.AsyncClient(base_url=admin_server.url, timeout=120) as http:
        bomb = asyncio.create_task(
            http.post(
                "/v1/definitions/validate",
                headers={**read, "content-type": "text/plain"},
                content=_alias_bomb(7),
            )
        )
        answered_meanwhile = await http.get("/v1/schedules", headers=read)
        assert answered_meanwhile.status_code == 200
        response = await bomb
    if response.status_code == 200:  # the loader refused it on its own
        assert response.json()["valid"] is False
    else:
        assert response.status_code == 503, response.text
        assert f"took longer than {CHECK_SECONDS:g}s" in response.json()["error"]["message"]


async def test_validate_and_explain(admin_server: AdminServer) -> None:
    read = admin_server.auth("read")
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
    doc: dict[str, Any] = {
        "id": f"{uid}-api",
        "version": 1,
        "trigger": {"schedule": {"cron": ["0 2 * * *"], "timezone": "Europe/Berlin"}},
        "tasks": [{"id": "a", "type": "echo"}],
    }
    reconciler = ScheduleReconciler(temporal_client, admin_server.target)
    await reconciler.sync([ActivityDefinition.model_validate(doc)])
    sid = admin_server.target.schedule_id(doc["id"])
    admin = admin_server.auth("admin")
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


# ---- schemathesis over real runs -------------------------------------------------------------
EXAMPLES_PER_OPERATION = 40


async def test_schemathesis_finds_no_server_error_on_real_runs(
    admin_server: AdminServer, runs: Runs
) -> None:
    """Generated requests of every operation, with the admin token and an approver's token,
    against a waiting, a running, a finished and a foreign run: never a 5xx."""
    ids = [runs.waiting, runs.running, runs.finished, runs.foreign, f"{uuid.uuid4()}"]
    await asyncio.to_thread(_schemathesis, admin_server, ids)


def _schemathesis(server: AdminServer, run_ids: list[str]) -> None:
    schema = schemathesis.openapi.from_url(
        f"{server.url}/openapi.json", headers=server.auth("read")
    )
    seen: dict[str, set[int]] = {}
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operation = result.ok()
        statuses = seen.setdefault(f"{operation.method.upper()} {operation.path}", set())
        _fuzz(operation, server, run_ids, statuses)
    assert len(seen) >= 14
    # The generated requests reached the runs, not only the request validation.
    print(seen)  # shown when the test fails
    runs = "/v1/runs/{workflow_id}"
    assert 200 in seen[f"GET {runs}/status"]
    assert {403, 409} & seen[f"POST {runs}/approve"], "no decision reached a run's validator"
    assert 404 in seen[f"POST {runs}/cancel"], "the foreign run was never refused"


def _fuzz(operation: Any, server: AdminServer, run_ids: list[str], statuses: set[int]) -> None:
    """Generated requests of one operation, half of them naming one of ``run_ids``."""

    @given(
        case=operation.as_strategy(),
        run_id=st.sampled_from(run_ids),
        real=st.booleans(),
        who=st.sampled_from(["admin", "alice"]),
    )
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def no_server_error(case: Any, run_id: str, real: bool, who: str) -> None:
        if real and "workflow_id" in (case.path_parameters or {}):
            case.path_parameters["workflow_id"] = run_id
        response = case.call_and_validate(headers=server.auth(who), checks=[not_a_server_error])
        statuses.add(response.status_code)

    no_server_error()
