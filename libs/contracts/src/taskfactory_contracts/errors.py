"""The typed error hierarchy shared by every taskfactory component."""

from __future__ import annotations

__all__ = [
    "ContractError",
    "DefinitionError",
    "ExpressionError",
    "MalformedRecordError",
    "MissingFieldError",
    "NotStrictJsonError",
    "RecordTooLargeError",
    "SchemaValidationError",
    "TaskFactoryError",
    "TransientError",
    "UnknownSchemaError",
    "UnknownSchemaIdError",
]


class TaskFactoryError(Exception):
    """Root of every error taskfactory raises on purpose."""

    #: Whether repeating the same operation later may succeed.
    retryable: bool = False
    #: Short, stable machine name used in metrics labels and dead-letter headers.
    reason: str = "error"


class TransientError(TaskFactoryError):
    """A dependency is unavailable or slow; back off and try again."""

    retryable = True
    reason = "transient"


class ContractError(TaskFactoryError):
    """A record does not honour the wire contract; it goes to the dead-letter topic."""

    reason = "contract"

    def __init__(self, message: str, *, where: str = "") -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class MalformedRecordError(ContractError):
    """The bytes are not a record of any format taskfactory reads."""

    reason = "malformed"


class UnknownSchemaError(ContractError):
    """The record names a schema (fingerprint or id) taskfactory does not know."""

    reason = "unknown_schema"


class UnknownSchemaIdError(UnknownSchemaError):
    """A Confluent-framed record names a schema id the schema registry does not know."""

    reason = "unknown_schema_id"


class SchemaValidationError(ContractError):
    """The record decodes but its content breaks the envelope's rules."""

    reason = "invalid"


class RecordTooLargeError(ContractError):
    """The record is bigger than the configured limit."""

    reason = "too_large"


class MissingFieldError(ContractError):
    """An optional envelope field the workflow id template names is absent, and the
    definition's ``correlation.when_absent`` says to dead-letter such events."""

    reason = "missing_field"


class DefinitionError(TaskFactoryError):
    """An ActivityDefinition is invalid; names the file, field and reason."""

    reason = "definition"

    def __init__(self, message: str, *, file: str = "", field: str = "") -> None:
        self.file = file
        self.field = field
        where = ":".join(p for p in (file, field) if p)
        super().__init__(f"{where}: {message}" if where else message)


class ExpressionError(TaskFactoryError, ValueError):
    """An expression does not parse, names an unknown variable, or fails to evaluate."""

    reason = "expression"


class NotStrictJsonError(TaskFactoryError, ValueError):
    """JSON that only a permissive parser reads: ``NaN``/``Infinity`` or a duplicate key."""

    reason = "not_strict_json"
