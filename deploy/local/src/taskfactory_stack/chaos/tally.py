"""One fault over several rounds: the totals of its outcomes, and the table ``make chaos``
writes (one row per fault)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from taskfactory_stack.chaos.target import Outcome

__all__ = ["Tally", "parse_rounds", "table", "tally"]


@dataclass(frozen=True)
class Tally:
    """The rounds of one fault, each on fresh topics, group, queues and ids."""

    fault: str
    rounds: tuple[Outcome, ...]

    def total(self, field: str) -> int:
        """The sum of ``field`` (an attribute or property of :class:`Outcome`) over the rounds."""
        return sum(int(getattr(o, field)) for o in self.rounds)

    @property
    def recoveries(self) -> list[float]:
        """The rounds' recovery times (a round that never recovered has none)."""
        return [o.recovery_seconds for o in self.rounds if o.recovery_seconds is not None]

    def problems(self) -> list[str]:
        """Every broken invariant, named by its round (1-based)."""
        if len(self.rounds) == 1:
            return self.rounds[0].problems()
        return [
            f"round {k}: " + "; ".join(o.problems())
            for k, o in enumerate(self.rounds, start=1)
            if o.problems()
        ]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the totals, and every round's own counts."""
        recoveries = self.recoveries
        return {
            "fault": self.fault,
            "rounds": len(self.rounds),
            **{
                field: self.total(field)
                for field in (
                    "events",
                    "runs",
                    "results",
                    "lost",
                    "duplicated",
                    "run_events",
                    "lost_run_events",
                    "duplicated_run_events",
                    "dead_letters",
                    "publish_checks",
                    "publish_checks_found",
                )
            },
            "recovery_seconds_median": statistics.median(recoveries) if recoveries else None,
            "recovery_seconds_max": max(recoveries) if recoveries else None,
            "problems": self.problems(),
            "each": [o.as_dict() for o in self.rounds],
        }


def tally(outcomes: list[Outcome]) -> list[Tally]:
    """The outcomes grouped by fault, in the order each fault first ran."""
    by_fault: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_fault.setdefault(outcome.fault, []).append(outcome)
    return [Tally(fault, tuple(rounds)) for fault, rounds in by_fault.items()]


def table(tallies: list[Tally]) -> str:
    """The markdown table of the README's Chaos section: one row per fault, totals over its
    rounds; its verdict fails when any round failed."""
    rows = [
        "| fault | rounds | events | fault lasted s (max) | runs | results | lost | duplicated "
        "| run events | run events lost | run events duplicated | DLQ | lag after (max) "
        "| publish re-checks (found sent) | recovery s (median / max) | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for t in tallies:
        recoveries = t.recoveries
        recovery = (
            f"{statistics.median(recoveries):.1f} / {max(recoveries):.1f}" if recoveries else "—"
        )
        missing = len(t.rounds) - len(recoveries)
        if recoveries and missing:
            recovery += f" ({missing} never)"
        problems = t.problems()
        verdict = "ok" if not problems else "**FAIL**: " + "; ".join(problems)
        lasted = max(o.fault_seconds for o in t.rounds)
        lag = max((o.lag for o in t.rounds), key=abs)
        rows.append(
            f"| {t.fault} | {len(t.rounds)} | {t.total('events')} | {lasted:.1f} "
            f"| {t.total('runs')} | {t.total('results')} | {t.total('lost')} "
            f"| {t.total('duplicated')} | {t.total('run_events')} "
            f"| {t.total('lost_run_events')} | {t.total('duplicated_run_events')} "
            f"| {t.total('dead_letters')} | {lag} "
            f"| {t.total('publish_checks')} ({t.total('publish_checks_found')}) "
            f"| {recovery} | {verdict} |"
        )
    return "\n".join(rows)


def parse_rounds(text: str, faults: Sequence[str]) -> dict[str, int]:
    """``executor-sigkill=10,orchestrator-restart=10`` → rounds per named fault (the others
    run once); a clear error naming the item otherwise."""
    rounds: dict[str, int] = {}
    for item in filter(None, text.split(",")):
        fault, sep, count = item.partition("=")
        if not sep or not count.isdigit() or int(count) < 1:
            raise ValueError(f"--rounds: {item!r} is not FAULT=N with N ≥ 1")
        if fault not in faults:
            raise ValueError(f"--rounds: unknown fault {fault!r}; choose from {', '.join(faults)}")
        rounds[fault] = int(count)
    return rounds
