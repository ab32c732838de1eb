"""The executor's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "HEARTBEATS",
    "IN_FLIGHT",
    "PUBLISHED",
    "PUBLISH_FAILURES",
    "PUBLISH_RETRIES",
    "TASKS",
    "TASK_DURATION",
]

TASKS = Counter(
    "taskfactory_executor_tasks_total",
    "Task attempts by type and outcome (succeeded, failed = will not retry, "
    "error = will retry, cancelled).",
    ["type", "outcome"],
)
TASK_DURATION = Histogram(
    "taskfactory_executor_task_duration_seconds",
    "Duration of one task attempt.",
    ["type", "outcome"],
    buckets=(0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
IN_FLIGHT = Gauge("taskfactory_executor_tasks_in_flight", "Task attempts running now.", ["type"])
HEARTBEATS = Counter(
    "taskfactory_executor_heartbeats_total", "Heartbeats tasks reported.", ["type"]
)
PUBLISHED = Counter(
    "taskfactory_executor_published_total",
    "Records published (kind: result or run_event).",
    ["kind"],
)
PUBLISH_RETRIES = Counter(
    "taskfactory_executor_publish_retries_total",
    "Publish attempts after the first (the previous one failed or timed out).",
    ["kind"],
)
PUBLISH_FAILURES = Counter(
    "taskfactory_executor_publish_failures_total",
    "Publish attempts that failed (Temporal retries them).",
    ["kind"],
)

# Both kinds start at 0, so rate() sees the first publish failure after a restart too.
for _kind in ("result", "run_event"):
    for _counter in (PUBLISHED, PUBLISH_RETRIES, PUBLISH_FAILURES):
        _counter.labels(_kind)
