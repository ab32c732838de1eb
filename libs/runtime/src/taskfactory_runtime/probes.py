"""What ``/readyz`` and ``/livez`` say about a Temporal worker, from what the SDK exposes.

Ready: the frontend answers its gRPC health check *and* the server lists this worker among
the pollers of its task queue (``DescribeTaskQueue``), i.e. tasks sent there reach us.
Alive: the worker's poll loop still runs. The SDK ends it on an error it cannot retry (the
namespace gone, permission denied); the process then stays up with a failing ``/livez`` so
the orchestrator (kubelet) restarts it, and its log names the error. A Temporal outage
makes the worker unready, never dead: restarting cannot bring Temporal back.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from taskfactory_runtime.health import HealthServer
from taskfactory_runtime.logging import get_logger
from taskfactory_runtime.sdk_metrics import SdkMetrics
from taskfactory_runtime.settings import TemporalSettings
from taskfactory_runtime.temporal import connect_temporal

__all__ = ["WorkerProbe", "connect_worker", "run_worker"]

log = get_logger(__name__)

#: The server forgets a poller this long after its last poll (matching's poller history).
POLLER_SEEN_WITHIN = timedelta(minutes=2)


@dataclass
class WorkerProbe:
    """Keeps the readiness and liveness of one worker up to date (``run`` until stopped)."""

    client: Client
    task_queue: str
    #: Which half of the queue the worker polls (workflow or activity tasks).
    queue_type: TaskQueueType.ValueType
    interval: float = 5.0
    timeout: float = 3.0
    _temporal: str | None = "Temporal not checked yet"
    _polling: str | None = "no poll seen yet"
    _died: str | None = None
    _stopping: bool = False
    #: The worker, once :func:`run_worker` runs it.
    worker: Worker | None = None

    def register(self, health: HealthServer) -> None:
        """Make ``health``'s ``/readyz`` and ``/livez`` answer from this probe."""
        health.add_check("temporal", lambda: self._temporal)
        health.add_check("worker", self.polling)
        health.add_liveness("worker", self.liveness)

    def polling(self) -> str | None:
        """``None`` while the worker polls, else why not (readiness)."""
        return self.liveness() or self._polling

    def liveness(self) -> str | None:
        """``None`` unless the poll loop ended without being asked to."""
        if self._stopping:
            return None
        if self._died is not None:
            return self._died
        if self.worker is not None and self.worker.is_shutdown:
            return "worker poll loop ended"
        return None

    async def died(self, error: BaseException) -> None:
        """Record the fatal error that ends the poll loop (the worker's ``on_fatal_error``)."""
        self._died = f"worker poll loop ended: {error}" + (
            f" ({error.__cause__})" if error.__cause__ else ""
        )
        log.error("worker stopped polling; /livez fails until restart", error=self._died)

    def stopping(self) -> None:
        """A requested shutdown: the worker ending now is no failure."""
        self._stopping = True

    async def check(self) -> None:
        """One round: the frontend's health, then whether the server sees our poller."""
        timeout = timedelta(seconds=self.timeout)
        try:
            serving = await self.client.service_client.check_health(timeout=timeout)
        except (RPCError, RuntimeError) as exc:
            self._set_temporal(f"Temporal {self.client.service_client.config.target_host}: {exc}")
            return
        self._set_temporal(None if serving else "Temporal answers but is not serving")
        running = self.worker is not None and self.worker.is_running
        if not serving or not running:
            self._polling = None if running else "worker not polling yet"
            return
        request = DescribeTaskQueueRequest(
            namespace=self.client.namespace,
            task_queue=TaskQueue(name=self.task_queue),
            task_queue_type=self.queue_type,
        )
        try:
            described = await self.client.workflow_service.describe_task_queue(
                request, timeout=timeout
            )
        except RPCError as exc:
            self._polling = f"cannot describe task queue {self.task_queue}: {exc}"
            return
        now = datetime.now(UTC)
        # Our workers take the client's identity (none of them sets its own).
        identity = self.client.identity
        seen = any(
            poller.identity == identity
            and now - poller.last_access_time.ToDatetime(tzinfo=UTC) < POLLER_SEEN_WITHIN
            for poller in described.pollers
        )
        self._polling = (
            None if seen else f"Temporal sees no poll from {identity} on {self.task_queue}"
        )

    def _set_temporal(self, reason: str | None) -> None:
        if reason != self._temporal and (reason is None) != (self._temporal is None):
            if reason is None:
                log.info("temporal reachable", task_queue=self.task_queue)
            else:
                log.warning("temporal unreachable, not ready", reason=reason)
        self._temporal = reason

    async def run(self, stop: asyncio.Event) -> None:
        """Check every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            await self.check()
            # Until ready, look again soon: a pod becomes ready seconds after it polls.
            ready = self._temporal is None and self.polling() is None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    stop.wait(), timeout=self.interval if ready else min(1.0, self.interval)
                )


async def run_worker(
    worker: Worker, probe: WorkerProbe, stop: asyncio.Event, *, drain_seconds: float
) -> None:
    """Run ``worker`` and its probe until ``stop``; then shut the worker down (drain).

    Build the worker with ``on_fatal_error=probe.died``: a poll loop that dies then fails
    ``/livez`` and the process keeps serving its probes until it is stopped.
    """
    probe.worker = worker
    running = asyncio.create_task(worker.run())
    checking = asyncio.create_task(probe.run(stop))
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            await stop.wait()  # died: /livez fails until the process is restarted
        probe.stopping()
        log.info("draining", deadline_seconds=drain_seconds)
        await worker.shutdown()
        with contextlib.suppress(Exception):
            await running
    finally:
        for task in (checking, stopped, running):
            task.cancel()
        await asyncio.gather(checking, stopped, running, return_exceptions=True)


async def connect_worker(
    settings: TemporalSettings,
    health: HealthServer,
    *,
    task_queue: str,
    queue_type: TaskQueueType.ValueType,
) -> tuple[Client, WorkerProbe]:
    """The client of a worker polling ``task_queue`` and the probe ``health`` answers from.

    The SDK's own metrics join ``health``'s ``/metrics``; until :func:`run_worker` runs the
    worker, the probe reports it not ready.
    """
    sdk_metrics = SdkMetrics()
    health.extra_metrics.append(sdk_metrics.text)
    client = await connect_temporal(settings, runtime=sdk_metrics.runtime)
    probe = WorkerProbe(client, task_queue=task_queue, queue_type=queue_type)
    probe.register(health)
    return client, probe
