"""The orchestrator's own publishing: results and run events as local activities of a run.

A local activity costs the run one marker event (for any number of records) instead of an
activity task per record (three events and a workflow task more); :class:`PublishOnce` keeps
each record on its topic once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError
from prometheus_client import Counter
from temporalio import activity
from temporalio.exceptions import ApplicationError

from taskfactory_contracts import AvroCodec, TaskResult, names
from taskfactory_orchestrator.models import PublishRecordInput
from taskfactory_runtime.errors import LeaseExpired
from taskfactory_runtime.formats import RecordFormat
from taskfactory_runtime.logging import get_logger
from taskfactory_runtime.once import OnceRecord, PublishOnce
from taskfactory_runtime.outbound import shrink_result

__all__ = [
    "PUBLISHED",
    "PUBLISH_FAILURES",
    "PUBLISH_RETRIES",
    "RESULTS_TOO_LARGE",
    "PublishActivities",
]

log = get_logger(__name__)

PUBLISHED = Counter(
    "taskfactory_orchestrator_published_total",
    "Records the orchestrator published (kind: result or run_event).",
    ["kind"],
)
PUBLISH_RETRIES = Counter(
    "taskfactory_orchestrator_publish_retries_total",
    "Publish attempts after the first; publishing is retried without limit, so a steady "
    "rate means records are late (alert TaskfactoryPublishRetrying).",
    ["kind"],
)
PUBLISH_FAILURES = Counter(
    "taskfactory_orchestrator_publish_failures_total",
    "Publish attempts that failed (retried).",
    ["kind"],
)
RESULTS_TOO_LARGE = Counter(
    "taskfactory_orchestrator_results_too_large_total",
    "Results whose record did not fit in a Kafka request, published as failed results.",
)
for _kind in ("result", "run_event"):
    for _counter in (PUBLISHED, PUBLISH_RETRIES, PUBLISH_FAILURES):
        _counter.labels(_kind)


@dataclass
class PublishActivities:
    """The ``publish_local`` activity bound to its publisher (built in ``worker.py``)."""

    once: PublishOnce
    #: The producer's largest request (``max_request_size``): larger results are replaced.
    max_record_bytes: int
    codec: AvroCodec = field(default_factory=AvroCodec)
    #: The wire format of results and run events (``TASKFACTORY_RESULTS__*``).
    format: RecordFormat = field(default_factory=RecordFormat)

    @activity.defn(name=names.ACTIVITY_PUBLISH_LOCAL)
    async def publish_local(self, arg: PublishRecordInput) -> None:
        """Publish results, then run events, each once (looking first when it may be there)."""
        info = activity.info()
        # This attempt may begin a send only before its own timeout, so a stalled attempt
        # cannot send after a later one looked (see taskfactory_runtime.once).
        timeout = info.start_to_close_timeout or info.schedule_to_close_timeout
        send_before = time.monotonic() + timeout.total_seconds() if timeout else None
        # Local activities start again at attempt 1 after a failed workflow task: the run
        # says whether that may have happened (``may_have_sent``).
        may_have_sent = arg.may_have_sent or info.attempt > 1
        for result in arg.results:
            await self._one(
                "result", await self._result(result, arg), arg, may_have_sent, send_before, result
            )
        for event in arg.events:
            assert arg.runs_topic is not None
            record = await self.format.run_event(
                event, topic=arg.runs_topic, traceparent=arg.traceparent
            )
            await self._one("run_event", record, arg, may_have_sent, send_before, None)

    async def _one(
        self,
        kind: str,
        record: OnceRecord,
        arg: PublishRecordInput,
        may_have_sent: bool,
        send_before: float | None,
        result: TaskResult | None,
    ) -> None:
        if may_have_sent and activity.info().attempt > 1:
            PUBLISH_RETRIES.labels(kind).inc()
        try:
            try:
                published = await self.once.publish(
                    record, may_have_sent=may_have_sent, since=arg.since, send_before=send_before
                )
            except (MessageSizeTooLargeError, RecordTooLargeError):
                if result is None:
                    raise
                # The broker's limit is below the producer's: publish the failure instead.
                shrunk, _ = shrink_result(self.codec, result, max_bytes=len(record.value))
                RESULTS_TOO_LARGE.inc()
                record = await self._record(shrunk, arg)
                published = await self.once.publish(
                    record, may_have_sent=may_have_sent, since=arg.since, send_before=send_before
                )
        except (LeaseExpired, KafkaError) as exc:
            PUBLISH_FAILURES.labels(kind).inc()
            log.warning("publish failed", kind=kind, topic=record.topic, error=repr(exc))
            raise ApplicationError(
                f"publishing a {kind} to {record.topic} failed: {exc!r}", type=type(exc).__name__
            ) from exc
        if published.sent:
            PUBLISHED.labels(kind).inc()

    async def _result(self, result: TaskResult, arg: PublishRecordInput) -> OnceRecord:
        shrunk, size = shrink_result(self.codec, result, max_bytes=self.max_record_bytes)
        if size is not None:
            RESULTS_TOO_LARGE.inc()
            log.warning(
                "result too large for kafka, published as failed",
                run_id=result.run_id,
                task_id=result.task_id,
                size=size,
                limit=self.max_record_bytes,
            )
        return await self._record(shrunk, arg)

    async def _record(self, result: TaskResult, arg: PublishRecordInput) -> OnceRecord:
        """The record of ``result`` on the results topic, in the definition's format."""
        return await self.format.result(
            result,
            topic=arg.results_topic,
            traceparent=arg.traceparent,
            format=arg.results_format,
            subject_strategy=arg.subject_strategy,
        )
