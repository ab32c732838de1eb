"""Helpers for the executor tests: a recording HTTP server, an in-process executor, a driver
workflow that runs one task with chosen timeouts/retries, topic faults and plugin installs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from support.hostile_server import ANY_METHOD
from taskfactory_contracts import TaskInput, TaskOutput, names
from taskfactory_executor.activities import ExecutorActivities
from taskfactory_executor.registry import TaskRegistry
from taskfactory_executor.sending import SendOnce, result_publisher
from taskfactory_executor.tasks import builtin_tasks
from taskfactory_runtime.egress import Egress, EgressSettings
from taskfactory_runtime.http_server import HttpServer
from taskfactory_runtime.kafka import client_kwargs, make_producer
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.plugins import pip_install_target
from taskfactory_stack.services import LOOPBACK_EGRESS_ENV

__all__ = [
    "LOOPBACK_EGRESS",
    "PLUGIN_SOURCE",
    "Call",
    "DriveInput",
    "DriveOutput",
    "DriveTaskWorkflow",
    "InProcessExecutor",
    "RecordingServer",
    "create_topic",
    "drive",
    "install_plugin",
    "pending_activity",
    "task_input",
]

PLUGIN_SOURCE = Path(__file__).parents[1] / "plugins" / "taskfactory-test-plugin"
#: The test servers listen on 127.0.0.1, which the egress policy refuses unless allowed.
LOOPBACK_EGRESS = EgressSettings.model_validate(
    {"allowed_networks": LOOPBACK_EGRESS_ENV["TASKFACTORY_EGRESS__ALLOWED_NETWORKS"]}
)


# ---- a local HTTP server that records every call ------------------------------------------
@dataclass(frozen=True)
class Call:
    """One request the server received."""

    path: str
    idempotency_key: str | None
    body: Any
    at: float


Reply = tuple[int, dict[str, str], Any]


@dataclass
class RecordingServer:
    """Answers each path from a script (then 200), recording calls; ``gates`` hold replies."""

    scripts: dict[str, list[Reply]] = field(default_factory=dict)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    _http: HttpServer | None = None

    def url(self, path: str) -> str:
        """The URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def calls_to(self, path: str) -> list[Call]:
        """The calls made to ``path``, in order."""
        return [c for c in self.calls if c.path == path]

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        body = json.loads(raw) if raw else None
        path = request.url.path
        self.calls.append(
            Call(path, request.headers.get("Idempotency-Key"), body, time.monotonic())
        )
        self.entered.set()
        gate = self.gates.get(path)
        if gate is not None:
            await gate.wait()
        script = self.scripts.get(path, [])
        status, headers, payload = script.pop(0) if script else (200, {}, {"ok": True})
        return JSONResponse(payload, status_code=status, headers=headers)

    async def __aenter__(self) -> RecordingServer:
        app = Starlette(routes=[Route("/{tail:path}", self._handle, methods=ANY_METHOD)])
        self._http = HttpServer(app, host="127.0.0.1", port=0, name="recording")
        await self._http.start()
        self.port = self._http.port
        return self

    async def __aexit__(self, *exc: object) -> None:
        for gate in self.gates.values():
            gate.set()
        if self._http is not None:
            await self._http.stop()


# ---- a workflow that runs one task and reports how it ended ----------------------------------
class DriveInput(BaseModel):
    """One task and the activity options to run it with."""

    task: TaskInput
    task_queue: str
    start_to_close_seconds: float = 20.0
    heartbeat_seconds: float | None = None
    maximum_attempts: int = 5
    initial_interval_seconds: float = 0.1


class DriveOutput(BaseModel):
    """How the task ended."""

    status: str
    output: Any = None
    attempt: int = 0
    error_type: str | None = None
    message: str | None = None
    non_retryable: bool = False


@workflow.defn(name="tf-test-drive-task")
class DriveTaskWorkflow:
    """Runs ``taskfactory.run_task`` once (with retries) and returns the outcome."""

    @workflow.run
    async def run(self, arg: DriveInput) -> DriveOutput:
        """Execute the activity by name, as the orchestrator does."""
        try:
            out = await workflow.execute_activity(
                names.ACTIVITY_RUN_TASK,
                arg.task,
                result_type=TaskOutput,
                task_queue=arg.task_queue,
                start_to_close_timeout=timedelta(seconds=arg.start_to_close_seconds),
                heartbeat_timeout=(
                    timedelta(seconds=arg.heartbeat_seconds) if arg.heartbeat_seconds else None
                ),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=arg.initial_interval_seconds),
                    backoff_coefficient=1.0,
                    maximum_attempts=arg.maximum_attempts,
                ),
            )
        except ActivityError as exc:
            cause = exc.cause
            if isinstance(cause, TimeoutError):
                return DriveOutput(status="timed_out", message=str(cause))
            if isinstance(cause, ApplicationError):
                return DriveOutput(
                    status="failed",
                    error_type=cause.type,
                    message=cause.message,
                    non_retryable=cause.non_retryable,
                )
            return DriveOutput(status="failed", error_type=type(cause).__name__)
        return DriveOutput(status="succeeded", output=out.output, attempt=out.attempt)


def task_input(uid: str, type_: str, params: dict[str, Any], *, n: int = 0) -> TaskInput:
    """A task as the orchestrator would render it."""
    return TaskInput(
        run_id=f"{uid}/run",
        task_id=f"task-{n}",
        type=type_,
        params=params,
        idempotency_key=f"{uid}-key-{n}",
        subject=f"subject-{n}",
        event_id=f"{uid}-event-{n}",
    )


async def drive(client: Client, queue: str, arg: DriveInput, *, workflow_id: str) -> DriveOutput:
    """Run the driver workflow (its worker must be running on ``queue``) to completion."""
    return await client.execute_workflow(
        DriveTaskWorkflow.run,
        arg,
        id=workflow_id,
        task_queue=queue,
        execution_timeout=timedelta(seconds=120),
    )


async def pending_activity(client: Client, workflow_id: str) -> Any:
    """The workflow's first pending activity (attempt, heartbeat details), or ``None``."""
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:  # not started yet
            return None
        raise
    pending = desc.raw_description.pending_activities
    return pending[0] if pending else None


# ---- an executor inside the test process ------------------------------------------------------
@dataclass
class InProcessExecutor:
    """The executor's activities on ``queue`` plus the driver workflow on ``queue``-driver."""

    client: Client
    kafka: KafkaSettings
    queue: str
    publish_timeout: float = 10.0
    publish_lease: float = 15.0
    graceful_shutdown: timedelta = timedelta(seconds=0)
    registry: TaskRegistry | None = None
    producer_overrides: dict[str, Any] = field(default_factory=dict)
    egress: EgressSettings = LOOPBACK_EGRESS
    max_output_bytes: int = 1024 * 1024

    @property
    def driver_queue(self) -> str:
        """Where the driver workflow runs."""
        return f"{self.queue}-driver"

    @asynccontextmanager
    async def running(self) -> AsyncIterator[InProcessExecutor]:
        """Start the workers; stop them (and the clients) on exit."""
        producer = make_producer(self.kafka, name="test-executor", **self.producer_overrides)
        await producer.start()
        http = Egress(self.egress)
        registry = self.registry or TaskRegistry.discover(builtin_tasks())
        activities = ExecutorActivities(
            registry=registry,
            publisher=result_publisher(
                producer, self.kafka, lease_seconds=self.publish_lease, clock_skew_seconds=60
            ),
            max_output_bytes=self.max_output_bytes,
            resources={"http": http, "kafka": SendOnce(producer, self.publish_timeout)},
        )
        executor = Worker(
            self.client,
            task_queue=self.queue,
            activities=[
                activities.run_task,
                activities.publish_result,
                activities.publish_run_event,
            ],
            graceful_shutdown_timeout=self.graceful_shutdown,
        )
        driver = Worker(
            self.client,
            task_queue=self.driver_queue,
            workflows=[DriveTaskWorkflow],
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
        try:
            async with executor, driver:
                yield self
        finally:
            await http.aclose()
            await producer.stop()

    async def drive(self, task: TaskInput, *, workflow_id: str, **options: Any) -> DriveOutput:
        """Run ``task`` through the driver workflow with activity ``options``."""
        arg = DriveInput(task=task, task_queue=self.queue, **options)
        return await drive(self.client, self.driver_queue, arg, workflow_id=workflow_id)


# ---- topics with faults -----------------------------------------------------------------------
@asynccontextmanager
async def _admin(kafka: KafkaSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(**client_kwargs(kafka), client_id="test-admin")
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def create_topic(
    kafka: KafkaSettings, name: str, *, partitions: int = 1, configs: dict[str, str] | None = None
) -> None:
    """Create ``name`` with per-topic ``configs``."""
    async with _admin(kafka) as admin:
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})])


# ---- a plugin package installed apart from the workspace ---------------------------------------
def install_plugin(target: Path, source: Path = PLUGIN_SOURCE) -> Path:
    """``uv pip install --target`` the package at ``source``; returns that folder."""
    pip_install_target(target, [source])
    return target
