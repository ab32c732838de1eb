"""Pure planning: the same definition + trigger always renders the same tasks and ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskfactory_contracts import ActivityDefinition, Envelope, ExpressionError
from taskfactory_contracts.expressions import evaluate, render
from taskfactory_orchestrator.plan import for_each_items, render_task, variables, workflow_id_for
from taskfactory_runtime.definitions import DefinitionsWatcher

DEFINITION = ActivityDefinition.model_validate(
    {
        "id": "orders",
        "version": 4,
        "trigger": {"event_types": ["order.placed"], "filter": "event.data.total > 0"},
        "correlation": {"workflow_id": "orders/{subject}/{id}"},
        "tasks": [
            {"id": "charge", "type": "echo", "params": {"amount": "{{ event.data.total }}"}},
            {
                "id": "notify",
                "type": "echo",
                "needs": ["charge"],
                "for_each": "event.data.lines",
                "params": {"text": "{{ item }} of {{ event.subject }}", "n": "{{ index }}"},
            },
        ],
    }
)

texts = st.text(min_size=1, max_size=30)


def _envelope(event_id: str, subject: str, total: int, lines: list[str]) -> Envelope:
    return Envelope(
        id=event_id,
        source="/p",
        type="order.placed",
        subject=subject,
        time=datetime(2026, 5, 1, tzinfo=UTC),
        data=json.dumps({"total": total, "lines": lines}).encode(),
    )


def _render_all(envelope: Envelope) -> list[object]:
    scope = variables(DEFINITION, envelope)
    wid = workflow_id_for(DEFINITION, envelope)
    out = [render_task(DEFINITION.tasks[0], scope, workflow_id=wid, envelope=envelope)]
    items = for_each_items(DEFINITION.tasks[1], scope) or []
    out += [
        render_task(DEFINITION.tasks[1], scope, workflow_id=wid, envelope=envelope, index=i, item=x)
        for i, x in enumerate(items)
    ]
    return [wid, *(t.model_dump() for t in out)]


@given(texts, texts, st.integers(-5, 10**6), st.lists(texts, max_size=5))
def test_same_definition_and_trigger_render_the_same_tasks_and_ids(
    event_id: str, subject: str, total: int, lines: list[str]
) -> None:
    first = _render_all(_envelope(event_id, subject, total, lines))
    again = _render_all(_envelope(event_id, subject, total, lines).model_copy())
    assert first == again
    keys = [t["idempotency_key"] for t in first[1:]]  # type: ignore[index]
    assert len(set(keys)) == len(keys), "every task of a run has its own idempotency key"


@given(texts, texts)
def test_different_events_never_share_an_idempotency_key(a: str, b: str) -> None:
    if a == b:
        return
    one = _render_all(_envelope(a, "s", 1, []))[1]
    two = _render_all(_envelope(b, "s", 1, []))[1]
    assert one["idempotency_key"] != two["idempotency_key"]  # type: ignore[index]


def test_whole_string_templates_keep_their_type_and_mixed_ones_render_text() -> None:
    scope = {"event": {"data": {"n": 3, "xs": [1, 2]}}}
    assert render({"a": "{{ event.data.xs }}", "b": "n={{ event.data.n }}"}, scope) == {
        "a": [1, 2],
        "b": "n=3",
    }


@pytest.mark.parametrize(
    "source",
    ['__import__("os")', "event.__class__", "open('x')", "event.data.missing"],
)
def test_expressions_cannot_reach_python_or_io(source: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(source, {"event": {"data": {}}})


async def test_watcher_applies_a_good_change_and_keeps_the_last_good_set_on_a_bad_one(
    tmp_path: Path,
) -> None:
    good = "id: a\nversion: {v}\ntrigger: {{event_types: [x]}}\ntasks:\n  - {{id: t, type: echo}}\n"
    path = tmp_path / "a.yaml"
    path.write_text(good.format(v=1))
    applied: list[int] = []
    watcher = DefinitionsWatcher(tmp_path, lambda ds: applied.append(ds[0].version))
    assert await watcher.check() is False
    path.write_text(good.format(v=2) + "\n")
    assert await watcher.check() is True
    path.write_text(good.format(v=3).replace("echo}", "echo, needs: [t]}"))
    assert await watcher.check() is False
    assert applied == [2]
    assert [d.version for d in watcher.current] == [2]
    assert watcher.rejected == 1


@pytest.mark.parametrize("task_type", ["http", "http.request"])
@given(value=st.text(max_size=40))
def test_an_http_task_url_keeps_its_host_and_path_whatever_the_event_sends(
    task_type: str, value: str
) -> None:
    definition = ActivityDefinition.model_validate(
        {
            "id": "fetch",
            "version": 1,
            "trigger": {"event_types": ["order.placed"]},
            "correlation": {"workflow_id": "fetch/{id}"},
            "tasks": [
                {
                    "id": "get",
                    "type": task_type,
                    "params": {
                        "url": "https://api.example.com/orders/{{ event.data.id }}"
                        "?t={{ event.tenant }}",
                        "method": "GET",
                    },
                }
            ],
        }
    )
    envelope = Envelope(
        id="e1",
        source="/p",
        type="order.placed",
        subject="s",
        tenant="169.254.169.254/latest/meta-data/#",
        time=datetime(2026, 5, 1, tzinfo=UTC),
        data=json.dumps({"id": value}).encode(),
    )
    scope = variables(definition, envelope)
    task = render_task(definition.tasks[0], scope, workflow_id="fetch/e1", envelope=envelope)
    url = task.params["url"]
    prefix = "https://api.example.com/orders/"
    assert url.startswith(prefix)
    path, _, query = url[len(prefix) :].partition("?")
    # The event's value is one path segment and the tenant one query value, whatever they hold.
    assert not set(path) & {"/", "#", "?"}
    assert query.startswith("t=")
    assert not set(query) & {"&", "#"}
