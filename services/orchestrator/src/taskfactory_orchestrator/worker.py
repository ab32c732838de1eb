"""The orchestrator's Temporal worker: hosts ``RunActivityWorkflow``, its batches and activities."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from taskfactory_orchestrator.activities import ContextActivities
from taskfactory_orchestrator.admin.server import serve_admin
from taskfactory_orchestrator.publishing import PublishActivities
from taskfactory_orchestrator.schedules.runner import run_schedules
from taskfactory_orchestrator.settings import OrchestratorSettings
from taskfactory_orchestrator.workflows.run_activity import RunActivityWorkflow
from taskfactory_orchestrator.workflows.run_legacy import LegacyRunActivityWorkflow
from taskfactory_orchestrator.workflows.scheduled_firing import (
    FiringActivities,
    ScheduledFiringWorkflow,
)
from taskfactory_orchestrator.workflows.task_batch import TaskBatchWorkflow
from taskfactory_runtime.egress import Egress
from taskfactory_runtime.formats import RecordFormat
from taskfactory_runtime.health import HealthServer
from taskfactory_runtime.kafka import check_topics, make_consumer
from taskfactory_runtime.logging import get_logger
from taskfactory_runtime.once import PartitionReader, PublishOnce
from taskfactory_runtime.probes import connect_worker, run_worker
from taskfactory_runtime.producer import RenewingProducer, renewing_producer
from taskfactory_runtime.schema_registry import RegistryLookup

__all__ = ["NO_SANDBOX", "SANDBOX", "WORKFLOWS", "build_publisher", "build_worker", "run"]

log = get_logger(__name__)

# Our models and the pure planning code are deterministic: pass them (with pydantic and the
# CEL library, which is side-effect free) through the sandbox instead of re-importing per run.
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "taskfactory_contracts",
        "taskfactory_orchestrator.plan",
        "pydantic",
        "pydantic_core",
        "annotated_types",
        "celpy",
        "lark",
        "pendulum",
        "re2",
        "jmespath",
        "yaml",
    )
)
# Without the sandbox (the default), a one-task run costs ~8 ms of worker CPU instead of ~15:
# the sandbox re-imports the run's workflow module for every new run and runs each payload's
# serialisation through its exec. Our workflow modules hold no state (constants only), and
# every recorded history replays under the strict sandbox in tests/replay, as do the in-process
# workers of the integration tests, which catch a restricted call on those paths.
NO_SANDBOX = UnsandboxedWorkflowRunner()
# The legacy run type stays registered for runs started before the fast path.
WORKFLOWS = [
    RunActivityWorkflow,
    LegacyRunActivityWorkflow,
    TaskBatchWorkflow,
    ScheduledFiringWorkflow,
]


#: aiokafka's default ``max_request_size``: a result record larger than this is replaced.
MAX_REQUEST_BYTES = 1_048_576


def build_publisher(
    settings: OrchestratorSettings,
) -> tuple[RenewingProducer, PartitionReader, PublishActivities]:
    """The run's own publishing: an idempotent producer, the partition check, the activity."""
    section = settings.orchestrator
    lease = timedelta(seconds=section.publish_lease_seconds)
    # A send is written or failed within two request timeouts: that is the lease.
    producer = renewing_producer(
        settings.kafka,
        name="orchestrator",
        request_timeout_ms=int(lease.total_seconds() * 500),
        max_request_size=MAX_REQUEST_BYTES,
    )
    reader = PartitionReader(
        lambda: make_consumer(
            settings.kafka,
            group_id=None,
            name="orchestrator-check",
            isolation_level="read_uncommitted",
        )
    )
    once = PublishOnce(
        producer,
        reader,
        lease=lease,
        clock_skew=timedelta(seconds=section.clock_skew_seconds),
    )
    record_format = RecordFormat(settings.results, RegistryLookup.from_settings(settings.kafka))
    return (
        producer,
        reader,
        PublishActivities(once, max_record_bytes=MAX_REQUEST_BYTES, format=record_format),
    )


def build_worker(
    client: Client,
    settings: OrchestratorSettings,
    publishing: PublishActivities,
    *,
    on_fatal_error: Callable[[BaseException], Awaitable[None]] | None = None,
) -> Worker:
    """A worker on the orchestrator task queue hosting every orchestrator workflow."""
    return Worker(
        client,
        task_queue=settings.temporal.orchestrator_task_queue,
        workflows=WORKFLOWS,
        activities=[
            ContextActivities(Egress(settings.egress)).resolve_context,
            FiringActivities(client).uncovered_firings,
            publishing.publish_local,
        ],
        workflow_runner=SANDBOX if settings.orchestrator.sandbox == "strict" else NO_SANDBOX,
        max_concurrent_workflow_tasks=settings.orchestrator.max_concurrent_workflow_tasks,
        max_concurrent_activities=settings.orchestrator.max_concurrent_activities,
        max_concurrent_local_activities=settings.orchestrator.max_concurrent_local_activities,
        max_cached_workflows=settings.orchestrator.max_cached_workflows,
        graceful_shutdown_timeout=timedelta(seconds=settings.drain_seconds),
        on_fatal_error=on_fatal_error,
    )


async def run(settings: OrchestratorSettings, stop: asyncio.Event) -> None:
    """Run the worker until ``stop`` is set; whatever started is stopped however it ends."""
    async with AsyncExitStack() as stack:
        health = await stack.enter_async_context(HealthServer(settings.http))
        health.add_check("temporal", lambda: "not connected yet")  # the probe takes over below
        client, probe = await connect_worker(
            settings.temporal,
            health,
            task_queue=settings.temporal.orchestrator_task_queue,
            queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        producer, reader, publishing = build_publisher(settings)
        if publishing.format.registry is not None:
            stack.push_async_callback(publishing.format.registry.aclose)
        await stack.enter_async_context(producer)
        # A topic outside this principal's ACLs stops the start with one clear line.
        await check_topics(settings.kafka, [settings.topics.results, settings.topics.runs])
        stack.push_async_callback(reader.stop)
        worker = build_worker(client, settings, publishing, on_fatal_error=probe.died)
        log.info(
            "orchestrator started",
            task_queue=settings.temporal.orchestrator_task_queue,
            http_port=health.port,
        )
        await asyncio.gather(
            run_worker(worker, probe, stop, drain_seconds=settings.drain_seconds),
            run_schedules(client, settings, stop),
            serve_admin(client, settings, stop),
        )
