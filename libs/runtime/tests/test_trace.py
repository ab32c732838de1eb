"""The trace tree drawn from a Jaeger trace document (pure)."""

from __future__ import annotations

from typing import Any

from taskfactory_runtime.trace import render_tree, span_lines


def _span(span_id: str, op: str, parent: str | None, start: int, **tags: Any) -> dict[str, Any]:
    return {
        "spanID": span_id,
        "operationName": op,
        "references": [{"refType": "CHILD_OF", "spanID": parent}] if parent else [],
        "startTime": start,
        "duration": 2500,
        "processID": "p2" if op.startswith("Run") else "p1",
        "tags": [{"key": k, "value": v} for k, v in tags.items()],
    }


TRACE = {
    "traceID": "abc",
    "processes": {"p1": {"serviceName": "taskfactory-ingress"}, "p2": {"serviceName": "x"}},
    "spans": [
        _span("c", "RunActivity:late", "a", 30, error=True),
        _span("a", "events process", "upstream-producer", 10),
        _span("b", "RunActivity:early", "a", 20),
        _span("d", "RunWorkflow:orphan", "not-exported-yet", 5, **{"otel.status_code": "ERROR"}),
    ],
}


def test_children_follow_their_parent_in_start_order_and_orphans_are_roots() -> None:
    lines = span_lines(TRACE)
    assert [(x.depth, x.operation) for x in lines] == [
        (0, "RunWorkflow:orphan"),
        (0, "events process"),
        (1, "RunActivity:early"),
        (1, "RunActivity:late"),
    ]
    assert [x.status for x in lines] == ["ERROR", "ok", "ok", "ERROR"]
    assert lines[1].service == "taskfactory-ingress"
    assert lines[1].duration_ms == 2.5


def test_the_rendered_tree_counts_errors_and_indents_children() -> None:
    header, *rows = render_tree(TRACE)
    assert header == "trace abc  4 spans  2 error(s)"
    assert rows[2].startswith("    RunActivity:early")
    assert rows[2].rstrip().endswith("2.5 ms  ok")
