"""The one way a filter value gets into the runs' visibility query."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskfactory_orchestrator.errors import UnsafeValue
from taskfactory_orchestrator.runs.ops import RunFilter, literal, runs_query


@given(st.text(max_size=300))
def test_a_value_is_refused_or_stays_one_literal(value: str) -> None:
    if re.search(r"['\"\\?\x00-\x1f\x7f]", value):
        with pytest.raises(UnsafeValue, match="visibility query"):
            runs_query("q", RunFilter(definition=value, subject=value))
        return
    query = runs_query("q", RunFilter(definition=value, subject=value))
    # Every literal opens and closes: the value cannot end one and start a clause of its own.
    assert query.count("'") % 2 == 0
    if value:
        assert f"TaskfactoryDefinition = '{value}'" in query
        assert f"TaskfactorySubject = '{value}'" in query
    else:  # an empty filter narrows nothing
        assert "TaskfactoryDefinition" not in query


@pytest.mark.parametrize("value", ["x' OR '1'='1", 'a"b', "back\\slash", "why?", "nul\x00"])
def test_the_shapes_that_break_a_query_are_refused(value: str) -> None:
    with pytest.raises(UnsafeValue):
        literal(value)


def test_the_query_names_both_run_types_the_queue_and_every_filter() -> None:
    since = datetime(2026, 1, 2, tzinfo=UTC)
    query = runs_query(
        "orch", RunFilter(definition="loan", subject="s-1", status="Running", since=since)
    )
    assert "WorkflowType IN ('RunActivityWorkflowV2', 'RunActivityWorkflow')" in query
    assert "TaskQueue = 'orch'" in query
    assert "ExecutionStatus = 'Running'" in query
    assert f"StartTime >= '{since.isoformat()}'" in query
