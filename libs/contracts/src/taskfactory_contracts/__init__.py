"""taskfactory contracts: the envelope, result records, codec, names and workflow ids."""

from taskfactory_contracts.codec import (
    ENVELOPE,
    RUN_EVENT,
    SINGLE_OBJECT_MARKER,
    TASK_RESULT,
    AvroCodec,
)
from taskfactory_contracts.confluent import (
    ConfluentSchemaRegistry,
    InMemorySchemaRegistry,
    SchemaRegistry,
)
from taskfactory_contracts.definition import (
    ActivityDefinition,
    Correlation,
    EventTrigger,
    ResultsSpec,
    RetrySpec,
    TaskTemplate,
)
from taskfactory_contracts.errors import (
    ContractError,
    DefinitionError,
    MalformedRecordError,
    RecordTooLargeError,
    SchemaValidationError,
    TaskFactoryError,
    TransientError,
    UnknownSchemaError,
)
from taskfactory_contracts.ids import derive_workflow_id, template_fields
from taskfactory_contracts.records import (
    Envelope,
    RunEvent,
    RunEventKind,
    RunStatus,
    TaskResult,
    TaskStatus,
)
from taskfactory_contracts.schemas import SchemaStore, default_store
from taskfactory_contracts.workflow import (
    ApprovalSignal,
    PublishResultInput,
    PublishRunEventInput,
    RunActivityInput,
    RunOutcome,
    TaskInput,
    TaskOutput,
    TriggerEvent,
)

__all__ = [
    "ENVELOPE",
    "RUN_EVENT",
    "SINGLE_OBJECT_MARKER",
    "TASK_RESULT",
    "ActivityDefinition",
    "ApprovalSignal",
    "AvroCodec",
    "ConfluentSchemaRegistry",
    "ContractError",
    "Correlation",
    "DefinitionError",
    "Envelope",
    "EventTrigger",
    "InMemorySchemaRegistry",
    "MalformedRecordError",
    "PublishResultInput",
    "PublishRunEventInput",
    "RecordTooLargeError",
    "ResultsSpec",
    "RetrySpec",
    "RunActivityInput",
    "RunEvent",
    "RunEventKind",
    "RunOutcome",
    "RunStatus",
    "SchemaRegistry",
    "SchemaStore",
    "SchemaValidationError",
    "TaskFactoryError",
    "TaskInput",
    "TaskOutput",
    "TaskResult",
    "TaskStatus",
    "TaskTemplate",
    "TransientError",
    "TriggerEvent",
    "UnknownSchemaError",
    "default_store",
    "derive_workflow_id",
    "template_fields",
]
