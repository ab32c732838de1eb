"""Where chaos scenarios run (a Kafka and a Temporal, private or the cluster profile's) and
what one scenario counted."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.component import Component
from taskfactory_stack.components import KafkaComponent, TemporalComponent
from taskfactory_stack.process import free_port
from taskfactory_stack.settings import StackSettings

__all__ = ["Outcome", "Target", "private_kafka", "private_temporal"]


def _jars() -> Path:
    """Kafka's jars, cached by the local stack (fetched by the private broker if missing)."""
    stack = StackSettings()
    return stack.jars_dir or stack.root / "kafka"


#: A mark starts topic names, task queues, workflow and schedule ids, and a visibility query.
_MARK = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")


@dataclass
class Target:
    """Kafka and Temporal to run against, a scratch folder, and the parts a fault may restart."""

    kafka: KafkaSettings
    temporal_address: str
    root: Path
    #: What every id, topic, task queue and schedule of its worlds starts with: the test's uid
    #: (the session's mark) or the chaos bench's mark, so what a failed scenario leaves running
    #: is found and ended by that mark (``taskfactory_stack.leftovers``).
    mark: str = field(kw_only=True)
    kafka_component: KafkaComponent | None = None
    temporal_component: TemporalComponent | None = None
    #: Bound of each wait; a scenario that needs it all has found a bug.
    patience: float = 300.0
    #: Of the scenario's topics: 3 on the cluster profile's three brokers.
    replication_factor: int = 1
    #: The cluster profile's components (brokers, Temporal server, PostgreSQL), for its faults.
    cluster: list[Component] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not _MARK.fullmatch(self.mark):
            raise ValueError(f"a chaos mark is letters, digits and dashes: {self.mark!r}")


def private_kafka(root: Path) -> KafkaComponent:
    """A single-node broker of our own on free ports (start it with ``up``)."""
    return KafkaComponent(
        StackSettings(
            dir=root,
            jars_dir=_jars(),
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            kafka_heap="256m",
            jaeger=False,
        )
    )


def private_temporal(root: Path) -> TemporalComponent:
    """A Temporal dev server of our own on free ports (start it with ``up``)."""
    return TemporalComponent(
        StackSettings(
            dir=root, temporal_port=free_port(), temporal_ui_port=free_port(), jaeger=False
        )
    )


#: The counts ``Outcome.as_dict`` adds to its fields (properties derived from them).
_DERIVED = ("lost", "duplicated", "lost_run_events", "duplicated_run_events")


@dataclass
class Outcome:
    """The counts after one fault; every event has one task, so one result per event, and one
    run, so two run events per event (started and finished)."""

    #: Run events each run publishes: ``started`` and ``finished``.
    RUN_EVENTS_PER_RUN: ClassVar[int] = 2

    fault: str
    events: int
    runs: int = 0
    completed: int = 0
    results: int = 0
    distinct_results: int = 0
    retried_tasks: int = 0
    #: Records on the runs topic, and distinct run-event ids among them.
    run_events: int = 0
    distinct_run_events: int = 0
    #: Publishes of the (restarted) orchestrator that first looked for their record because an
    #: earlier attempt may have sent it, and those that found it there: a kill that struck
    #: after Kafka's acknowledgement and before the run recorded the publish.
    publish_checks: int = 0
    publish_checks_found: int = 0
    #: Runs open when the fault struck (for faults that hit runs in flight).
    in_flight: int = 0
    dead_letters: int = 0
    lag: int = -1
    fault_seconds: float = 0.0
    recovery_seconds: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Events without a result (whether their run never started or never finished)."""
        return max(0, self.events - self.distinct_results)

    @property
    def duplicated(self) -> int:
        """Second results for a task, plus runs beyond one per event."""
        return (self.results - self.distinct_results) + max(0, self.runs - self.events)

    @property
    def expected_run_events(self) -> int:
        """Run events the events should have led to."""
        return self.events * self.RUN_EVENTS_PER_RUN

    @property
    def lost_run_events(self) -> int:
        """Run events missing (by distinct id)."""
        return max(0, self.expected_run_events - self.distinct_run_events)

    @property
    def duplicated_run_events(self) -> int:
        """Second records of a run event (same id)."""
        return self.run_events - self.distinct_run_events

    def problems(self) -> list[str]:
        """Every broken invariant, in words."""
        out = []
        if self.runs != self.events:
            out.append(f"{self.runs} runs for {self.events} events")
        if self.completed != self.events:
            out.append(f"{self.completed} of {self.events} runs completed")
        if self.results != self.events or self.distinct_results != self.events:
            out.append(
                f"{self.results} result records ({self.distinct_results} distinct tasks) "
                f"for {self.events} tasks"
            )
        expected = self.expected_run_events
        if self.run_events != expected or self.distinct_run_events != expected:
            out.append(
                f"{self.run_events} run event records ({self.distinct_run_events} distinct ids) "
                f"for {expected} run events"
            )
        if self.dead_letters:
            out.append(f"{self.dead_letters} records on the dead-letter topic")
        if self.lag != 0:
            out.append(f"consumer lag {self.lag}, not 0")
        if self.recovery_seconds is None:
            out.append("no recovery: lag or results still short at the deadline")
        return out

    def check(self) -> None:
        """Fail naming every broken invariant."""
        problems = self.problems()
        assert not problems, f"{self.fault}: " + "; ".join(problems)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the derived lost/duplicated counts and the broken invariants."""
        derived = {name: getattr(self, name) for name in _DERIVED}
        return {**asdict(self), **derived, "problems": self.problems()}
