"""The ingress's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "COMMIT_LAG",
    "CONSUMED",
    "CONSUMER_LAG",
    "DEAD_LETTERED",
    "DEAD_LETTER_RETRIES",
    "DEAD_LETTER_STUBS",
    "DEAD_LETTER_UNAVAILABLE",
    "DEFINITIONS",
    "DUPLICATES",
    "IN_FLIGHT",
    "PAUSED",
    "RELOADS",
    "SIGNALLED",
    "SKIPPED",
    "STARTED",
    "START_LATENCY",
    "START_RETRIES",
    "STUCK",
]

CONSUMED = Counter("taskfactory_ingress_consumed_total", "Records read from Kafka.", ["topic"])
STARTED = Counter("taskfactory_ingress_started_total", "Workflow runs started.", ["definition"])
DUPLICATES = Counter(
    "taskfactory_ingress_duplicates_total",
    "Starts refused because the workflow id already ran (a replayed event).",
    ["definition"],
)
SIGNALLED = Counter(
    "taskfactory_ingress_signalled_total",
    "Events delivered by signal-with-start to a correlated run (started or running).",
    ["definition"],
)
SKIPPED = Counter(
    "taskfactory_ingress_skipped_total",
    "Events no definition wants, by type: only types some definition names, else `other` "
    "(an outsider chooses the type; the label set stays bounded).",
    ["type"],
)
DEAD_LETTERED = Counter(
    "taskfactory_ingress_dead_lettered_total", "Records sent to the dead-letter topic.", ["reason"]
)
# Known reasons start at 0, so rate() sees the first dead letter after a restart too.
for _reason in (
    "malformed",
    "unknown_schema",
    "invalid",
    "too_large",
    "rejected",
    "missing_field",
    "filter_timeout",
    "unexpected",
):
    DEAD_LETTERED.labels(_reason)
DEAD_LETTER_STUBS = Counter(
    "taskfactory_ingress_dead_letter_stubs_total",
    "Records the dead-letter topic refused whole (too large), sent as a stub naming them.",
)
DEAD_LETTER_UNAVAILABLE = Gauge(
    "taskfactory_ingress_dead_letter_unavailable",
    "1 while the dead-letter topic cannot be reached (records to dead-letter wait and retry).",
)
DEAD_LETTER_RETRIES = Counter(
    "taskfactory_ingress_dead_letter_retries_total",
    "Dead-letter sends retried after a retriable Kafka error.",
)
STUCK = Gauge(
    "taskfactory_ingress_partition_stuck",
    "1 while a partition cannot make progress: a record neither started nor dead-lettered "
    "(the log and /readyz name the offset).",
    ["partition"],
)
START_RETRIES = Counter(
    "taskfactory_ingress_start_retries_total", "Workflow starts retried after a transient error."
)
COMMIT_LAG = Gauge(
    "taskfactory_ingress_uncommitted_records",
    "Records fetched but not yet committed, per partition.",
    ["partition"],
)
CONSUMER_LAG = Gauge(
    "taskfactory_ingress_consumer_lag",
    "Records of each assigned partition the group has not committed yet (log end offset minus "
    "committed offset); kept fresh while fetching is paused.",
    ["partition"],
)
DEFINITIONS = Gauge("taskfactory_ingress_definitions", "Definitions the routing uses now.")
RELOADS = Counter(
    "taskfactory_ingress_definition_reloads_total", "Definition sets applied after a file change."
)
IN_FLIGHT = Gauge("taskfactory_ingress_in_flight", "Records being handled.")
PAUSED = Gauge("taskfactory_ingress_paused", "1 while Temporal is unreachable and fetching waits.")
START_LATENCY = Histogram(
    "taskfactory_ingress_start_latency_seconds",
    "Time from receiving a record to Temporal acknowledging its start.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
