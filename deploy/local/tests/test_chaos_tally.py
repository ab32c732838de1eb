"""``make chaos`` repeats a fault in rounds and reports one row per fault: the totals over its
rounds, the recovery median and max, and a verdict that fails when any round failed."""

from __future__ import annotations

import pytest

from taskfactory_stack.chaos.tally import parse_rounds, table, tally
from taskfactory_stack.chaos.target import Outcome


def _clean(fault: str, recovery: float, *, events: int = 200) -> Outcome:
    """A round where every event has one run, one result and both run events, once."""
    return Outcome(
        fault,
        events,
        runs=events,
        completed=events,
        results=events,
        distinct_results=events,
        run_events=2 * events,
        distinct_run_events=2 * events,
        lag=0,
        fault_seconds=0.2,
        recovery_seconds=recovery,
        publish_checks=3,
        publish_checks_found=1,
    )


def _row(text: str, fault: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {fault} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_rounds_of_a_fault_add_up_to_one_row_with_recovery_median_and_max() -> None:
    outcomes = [_clean("executor-sigkill", r) for r in (9.0, 12.0, 10.0)]
    outcomes.insert(1, _clean("ingress-sigkill", 5.0))

    tallies = tally(outcomes)

    assert [(t.fault, len(t.rounds)) for t in tallies] == [
        ("executor-sigkill", 3),
        ("ingress-sigkill", 1),
    ]
    row = _row(table(tallies), "executor-sigkill")
    header = [c.strip() for c in table(tallies).splitlines()[0].strip("|").split("|")]
    cells = dict(zip(header, row, strict=True))
    assert cells["rounds"] == "3"
    assert cells["events"] == "600"
    assert cells["runs"] == "600"
    assert cells["results"] == "600"
    assert cells["run events"] == "1200"
    assert cells["lost"] == cells["duplicated"] == "0"
    assert cells["run events lost"] == cells["run events duplicated"] == "0"
    assert cells["publish re-checks (found sent)"] == "9 (3)"
    assert cells["recovery s (median / max)"] == "10.0 / 12.0"
    assert cells["verdict"] == "ok"
    totals = tallies[0].as_dict()
    assert totals["rounds"] == 3
    assert totals["recovery_seconds_median"] == 10.0
    assert len(totals["each"]) == 3


def test_one_failed_round_fails_the_fault_and_names_the_round_and_what_broke() -> None:
    bad = _clean("orchestrator-restart", 30.0)
    bad.results, bad.run_events = 201, 401  # one result and one run event written twice
    never = _clean("orchestrator-restart", 30.0)
    never.recovery_seconds = None
    never.results = never.distinct_results = 199  # a result never came
    outcomes = [_clean("orchestrator-restart", 29.0), bad, never]

    (t,) = tally(outcomes)
    row = _row(table([t]), "orchestrator-restart")

    assert t.total("duplicated") == 1
    assert t.total("duplicated_run_events") == 1
    assert t.total("lost") == 1
    assert row[-1].startswith("**FAIL**: round 2: 201 result records (200 distinct tasks)")
    assert "401 run event records (400 distinct ids)" in row[-1]
    assert "round 3: " in row[-1]
    assert "no recovery" in row[-1]
    assert "round 1" not in row[-1]
    assert row[-2] == "29.5 / 30.0 (1 never)"


def test_a_missing_run_event_is_lost_and_fails_the_round() -> None:
    outcome = _clean("executor-sigkill", 9.0)
    outcome.run_events = outcome.distinct_run_events = 399

    assert outcome.lost_run_events == 1
    assert outcome.problems() == ["399 run event records (399 distinct ids) for 400 run events"]


def test_rounds_are_read_per_fault() -> None:
    faults = ["executor-sigkill", "orchestrator-restart", "kafka-restart"]

    assert parse_rounds("executor-sigkill=10,orchestrator-restart=3", faults) == {
        "executor-sigkill": 10,
        "orchestrator-restart": 3,
    }
    assert parse_rounds("", faults) == {}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("executor-sigkill", "'executor-sigkill' is not FAULT=N with N ≥ 1"),
        ("executor-sigkill=0", "'executor-sigkill=0' is not FAULT=N"),
        ("executor-sigkill=ten", "is not FAULT=N"),
        ("leader-sigkill=2", "unknown fault 'leader-sigkill'; choose from executor-sigkill"),
    ],
)
def test_a_bad_rounds_item_is_named(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_rounds(text, ["executor-sigkill"])
