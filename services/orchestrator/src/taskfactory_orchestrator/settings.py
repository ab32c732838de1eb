"""Orchestrator settings: ``TASKFACTORY_*`` shared sections plus ``TASKFACTORY_ORCHESTRATOR__*``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    model_validator,
)

from taskfactory_runtime.egress import EgressSettings
from taskfactory_runtime.setting_types import ListenPort, RequestBodyLimit, TagRuns
from taskfactory_runtime.settings import ServiceSettings, WorkerSection

__all__ = [
    "AdminSection",
    "OrchestratorSection",
    "OrchestratorSettings",
    "Principal",
    "SchedulesSection",
]

# Principal and group names: they appear in approvals, logs and run histories.
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,99}$"


class OrchestratorSection(WorkerSection):
    """Worker tuning."""

    max_concurrent_workflow_tasks: PositiveInt = 200
    """Workflow tasks one replica runs at once."""
    max_concurrent_local_activities: PositiveInt = 200
    """Local activities (publishing, context) run at once."""
    max_cached_workflows: NonNegativeInt = 2000
    """Runs kept in memory between workflow tasks (at least the runs in flight, or each of their
    workflow tasks replays the history)."""
    sandbox: Literal["off", "strict"] = "off"
    """Workflow sandbox: 'strict' runs each run in the SDK's sandbox (its module re-imported per
    run, restricted calls caught at run time); 'off' runs our workflow code as is, at about half
    the worker CPU per run (determinism is checked by the replay tests under the strict sandbox
    instead)."""


class SchedulesSection(BaseModel):
    """The schedules reconciler: which Temporal Schedules it owns and how often it repairs drift."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    id_prefix: str = "taskfactory-"
    """Prefix of the ids of the schedules taskfactory creates."""
    owner: str | None = None
    """Ownership marker (schedule memo); only schedules carrying it are changed. Unset = the
    orchestrator task queue, so deployments sharing a namespace keep apart."""
    sync_interval_seconds: NonNegativeFloat = 300.0
    """Drift repair period of the orchestrator; 0 = only at start."""
    search_attributes: TagRuns = True


class Principal(BaseModel):
    """A named caller of the admin API: its bearer token (inline or a file), scope and groups.

    The name is who an approval is recorded as; a template's ``approval.approvers`` lists
    principal names and group names.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, hide_input_in_errors=True, use_attribute_docstrings=True
    )

    name: str = Field(pattern=_NAME)
    """Who this is (recorded as the approver)."""
    scope: Literal["read", "approve", "admin"] = "read"
    """read: only read; approve: also decide approvals; admin: also change."""
    groups: tuple[Annotated[str, Field(pattern=_NAME)], ...] = ()
    """Groups the principal belongs to (approvers may name them)."""
    token: SecretStr | None = None
    """Its bearer token (secret)."""
    token_file: Path | None = None
    """File holding its bearer token; read per request."""

    @model_validator(mode="after")
    def _one_token(self) -> Principal:
        if (self.token is None) == (self.token_file is None):
            raise ValueError(f"principal {self.name!r}: set exactly one of token and token_file")
        return self


class AdminSection(BaseModel):
    """The admin HTTP API (definitions, runs, schedules, explain) the orchestrator serves."""

    model_config = ConfigDict(
        extra="forbid", hide_input_in_errors=True, use_attribute_docstrings=True
    )

    enabled: bool = False
    """Serve the admin API."""
    host: str = "127.0.0.1"
    """Address of the admin API."""
    port: ListenPort = 8081
    admin_token: SecretStr | None = None
    """Bearer token that may read and change (secret)."""
    admin_token_file: Path | None = None
    """File holding admin_token."""
    read_token: SecretStr | None = None
    """Bearer token that may only read (secret)."""
    read_token_file: Path | None = None
    """File holding read_token."""
    principals: tuple[Principal, ...] = ()
    """Named callers as a JSON list of `{name, scope, groups, token_file}` (scope read, approve or
    admin); admin_token and read_token are the principals `admin` and `read`."""
    max_request_bytes: RequestBodyLimit = 1_048_576
    validate_timeout_seconds: PositiveFloat = 10.0
    """A posted definition, or an explained event, not checked within this time is answered 503 (the
    check runs off the event loop)."""
    max_concurrent_checks: PositiveInt = 2
    """Definition checks and explains at once; more get 503."""

    @model_validator(mode="after")
    def _unique_names(self) -> AdminSection:
        names = [p.name for p in self.principals]
        reserved = {"admin", "read"} & set(names)
        if reserved and (
            self.admin_token or self.admin_token_file or self.read_token or self.read_token_file
        ):
            raise ValueError(
                f"principal name(s) {sorted(reserved)} are taken by admin_token / read_token"
            )
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"principal name(s) {duplicates} are given more than once")
        return self


class OrchestratorSettings(ServiceSettings):
    """Everything the orchestrator reads from the environment."""

    orchestrator: OrchestratorSection = OrchestratorSection()
    schedules: SchedulesSection = SchedulesSection()
    admin: AdminSection = AdminSection()
    egress: EgressSettings = EgressSettings()
