"""Names the services meet on: task queues, workflow/activity names, topics and headers.

A service never imports another service; they share only these names and the models
in :mod:`taskfactory_contracts.workflow`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

__all__ = [
    "ACTIVITY_PUBLISH_LOCAL",
    "ACTIVITY_PUBLISH_RESULT",
    "ACTIVITY_PUBLISH_RUN_EVENT",
    "ACTIVITY_RESOLVE_CONTEXT",
    "ACTIVITY_RUN_TASK",
    "BUILTIN_TASK_TYPES",
    "CLI_PLUGIN_GROUP",
    "CONTEXT_PLUGIN_GROUP",
    "DEFAULT_DLQ_TOPIC",
    "DEFAULT_EVENTS_TOPIC",
    "DEFAULT_RESULTS_TOPIC",
    "DEFAULT_RUNS_TOPIC",
    "ERROR_NOT_AN_APPROVER",
    "ERROR_NOT_WAITING_FOR_APPROVAL",
    "HEADER_CONTENT_TYPE",
    "HEADER_DEFINITION",
    "HEADER_ERROR_MESSAGE",
    "HEADER_ERROR_TYPE",
    "HEADER_EVENT_ID",
    "HEADER_RESULT_ID",
    "HEADER_RUN_EVENT_ID",
    "HEADER_RUN_ID",
    "HEADER_SOURCE_OFFSET",
    "HEADER_SOURCE_PARTITION",
    "HEADER_SOURCE_TIMESTAMP",
    "HEADER_SOURCE_TOPIC",
    "HEADER_TRACEPARENT",
    "HEADER_TRACESTATE",
    "LEGACY_TASK_TYPES",
    "QUERY_STATUS",
    "QUERY_TASKS",
    "SA_DEFINITION",
    "SA_EVENT_TYPE",
    "SA_SUBJECT",
    "SA_TENANT",
    "SEARCH_ATTRIBUTES",
    "SIGNAL_EVENT",
    "TASK_PLUGIN_GROUP",
    "TASK_QUEUE_EXECUTOR",
    "TASK_QUEUE_ORCHESTRATOR",
    "TASK_TYPE_APPROVAL",
    "TASK_TYPE_ECHO",
    "TASK_TYPE_HTTP",
    "TASK_TYPE_KAFKA_PUBLISH",
    "TASK_TYPE_SLEEP",
    "UPDATE_APPROVAL",
    "WORKFLOW_RUN_ACTIVITY",
    "WORKFLOW_RUN_ACTIVITY_V1",
    "WORKFLOW_TASK_BATCH",
]

TASK_QUEUE_ORCHESTRATOR: Final = "taskfactory-orchestrator"
TASK_QUEUE_EXECUTOR: Final = "taskfactory-executor"

# A run: since the fast path (the run publishes its results and run events itself, as local
# activities) under a type of its own; runs started before keep the old type, still served.
WORKFLOW_RUN_ACTIVITY: Final = "RunActivityWorkflowV2"
WORKFLOW_RUN_ACTIVITY_V1: Final = "RunActivityWorkflow"
ACTIVITY_RUN_TASK: Final = "taskfactory.run_task"
ACTIVITY_PUBLISH_RESULT: Final = "taskfactory.publish_result"
ACTIVITY_PUBLISH_RUN_EVENT: Final = "taskfactory.publish_run_event"
# Later events of a correlated run reach it through signal-with-start (input: TriggerEvent).
SIGNAL_EVENT: Final = "taskfactory.event"
# Status of each task finished so far (output: dict[str, TaskStatus]).
QUERY_TASKS: Final = "taskfactory.tasks"

# Entry-point groups plugins register in (``name = "module:function"``).
TASK_PLUGIN_GROUP: Final = "taskfactory.tasks"  # task types the executor runs
CONTEXT_PLUGIN_GROUP: Final = "taskfactory.context"  # context sources a run resolves
CLI_PLUGIN_GROUP: Final = "taskfactory.cli"  # sub-commands of `taskfactory`

# Task types (a definition's ``tasks[].type``), one spelling each. The executor ships these;
# plugins add more through TASK_PLUGIN_GROUP.
TASK_TYPE_ECHO: Final = "echo"
TASK_TYPE_HTTP: Final = "http"  # one HTTP call carrying the task's Idempotency-Key
TASK_TYPE_KAFKA_PUBLISH: Final = "kafka_publish"
TASK_TYPE_SLEEP: Final = "sleep"
# Runs no executor activity: a human decision (the task's ``approval`` block).
TASK_TYPE_APPROVAL: Final = "approval"
BUILTIN_TASK_TYPES: Final = (
    TASK_TYPE_ECHO,
    TASK_TYPE_HTTP,
    TASK_TYPE_KAFKA_PUBLISH,
    TASK_TYPE_SLEEP,
)
# Spellings older releases also accepted → the one to write now. A definition file using one
# is refused with the right spelling; the executor still runs them, because runs started
# before carry their definition (and so the old name) in their workflow input.
LEGACY_TASK_TYPES: Final = MappingProxyType(
    {"http.request": TASK_TYPE_HTTP, "kafka.publish": TASK_TYPE_KAFKA_PUBLISH}
)

DEFAULT_EVENTS_TOPIC: Final = "taskfactory.events"
DEFAULT_RESULTS_TOPIC: Final = "taskfactory.results"
DEFAULT_RUNS_TOPIC: Final = "taskfactory.runs"
DEFAULT_DLQ_TOPIC: Final = "taskfactory.events.dlq"

HEADER_TRACEPARENT: Final = "traceparent"
HEADER_TRACESTATE: Final = "tracestate"
HEADER_CONTENT_TYPE: Final = "content-type"
HEADER_EVENT_ID: Final = "taskfactory-event-id"
HEADER_RUN_ID: Final = "taskfactory-run-id"
HEADER_RESULT_ID: Final = "taskfactory-result-id"
HEADER_RUN_EVENT_ID: Final = "taskfactory-run-event-id"
HEADER_DEFINITION: Final = "taskfactory-definition"
HEADER_ERROR_TYPE: Final = "taskfactory-error-type"
HEADER_ERROR_MESSAGE: Final = "taskfactory-error-message"
HEADER_SOURCE_TOPIC: Final = "taskfactory-source-topic"
HEADER_SOURCE_PARTITION: Final = "taskfactory-source-partition"
HEADER_SOURCE_OFFSET: Final = "taskfactory-source-offset"
HEADER_SOURCE_TIMESTAMP: Final = "taskfactory-source-timestamp"

# Custom search attributes (Keyword) the runs carry; registered on the dev server by the stack.
SA_DEFINITION: Final = "TaskfactoryDefinition"
SA_EVENT_TYPE: Final = "TaskfactoryEventType"
SA_SUBJECT: Final = "TaskfactorySubject"
SA_TENANT: Final = "TaskfactoryTenant"
SEARCH_ATTRIBUTES: Final = (SA_DEFINITION, SA_EVENT_TYPE, SA_SUBJECT, SA_TENANT)
# Run state of a RunActivityWorkflow (output: RunStatusView).
QUERY_STATUS: Final = "taskfactory.status"
# A human decision on a task waiting for approval (input: ApprovalDecision), validated.
UPDATE_APPROVAL: Final = "taskfactory.approve"
# Why the approval update refuses a decision (ApplicationError types).
ERROR_NOT_WAITING_FOR_APPROVAL: Final = "NotWaitingForApproval"
ERROR_NOT_AN_APPROVER: Final = "NotAnApprover"
# Orchestrator-side activities (on the orchestrator task queue).
ACTIVITY_RESOLVE_CONTEXT: Final = "taskfactory.resolve_context"
# The orchestrator publishes results and run events itself, as local activities (fast path;
# input: PublishRecordInput). The executor's publish activities serve runs started before.
ACTIVITY_PUBLISH_LOCAL: Final = "taskfactory.publish_local"
# A run's batch of for_each items, as a child workflow (keeps the parent's history bounded).
WORKFLOW_TASK_BATCH: Final = "TaskBatchWorkflow"
