"""``taskfactory definitions validate`` / ``schema``: precise errors, exit codes, JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from taskfactory_orchestrator.cli import definitions_app, schema_document
from taskfactory_runtime.definitions import check_paths

ROOT = Path(__file__).parents[3]
BROKEN = Path(__file__).parent / "broken"
EXAMPLES = ROOT / "examples" / "definitions"

EXPECTED = [
    "bad-yaml.yaml:3: <yaml>: not valid YAML: expected ',' or ']', but got '<stream end>'",
    "cycle.yaml:7: tasks.0.needs: dependency cycle among a, b",
    "expression-syntax.yaml:5: trigger.filter: invalid expression 'event.data.total >': "
    "syntax error at column 18",
    "missing-field.md:8: tasks.0.params: 'event.subjekt': event has no field 'subjekt' (has: "
    "causation_id, correlation_id, data, datacontenttype, dataschema, extensions, id, source, "
    "specversion, subject, tenant, time, type)",
    "old-spelling.yaml:6: tasks.0.type: task type 'http.request' is an old spelling; write 'http'",
    "unknown-field.yaml:7: tasks.0.colour: Extra inputs are not permitted",
    "unknown-task-type.yaml:8: tasks.1.type: unknown task type 'telepathy'; "
    "known: approval, echo, http, kafka_publish, sleep",
    "wrong-type.yaml:2: version: Input should be a valid integer, "
    "unable to parse string as an integer",
]


def test_every_broken_file_gets_one_precise_line_and_a_non_zero_exit() -> None:
    result = CliRunner().invoke(definitions_app, ["validate", str(BROKEN)])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith(str(BROKEN))]
    assert [line.removeprefix(f"{BROKEN}/") for line in lines] == EXPECTED
    assert "8 problem(s)" in result.stderr
    assert "ok " not in result.stdout


def test_one_bad_file_among_good_ones_fails_the_whole_set() -> None:
    result = CliRunner().invoke(
        definitions_app, ["validate", str(EXAMPLES), str(BROKEN / "cycle.yaml")]
    )
    assert result.exit_code == 1
    assert "ok " not in result.stdout


def test_the_examples_are_valid_and_exit_zero() -> None:
    result = CliRunner().invoke(definitions_app, ["validate", str(EXAMPLES)])
    assert result.exit_code == 0, result.stderr
    assert "ok  order-fulfilment v2  (3 task templates)" in result.stdout
    assert "ok  greeting v1" in result.stdout


def test_an_extra_task_type_can_be_allowed() -> None:
    path = BROKEN / "unknown-task-type.yaml"
    bad = CliRunner().invoke(definitions_app, ["validate", str(path)])
    good = CliRunner().invoke(definitions_app, ["validate", str(path), "--task-type", "telepathy"])
    assert (bad.exit_code, good.exit_code) == (1, 0)


def test_the_published_json_schema_is_current() -> None:
    published = json.loads((ROOT / "schemas" / "definition.schema.json").read_text())
    assert published == json.loads(json.dumps(schema_document())), (
        "regenerate: uv run taskfactory definitions schema -o schemas/definition.schema.json"
    )


def test_the_schema_rejects_what_the_model_rejects() -> None:
    schema = schema_document()
    task = schema["$defs"]["TaskTemplate"]
    assert task["additionalProperties"] is False
    assert {"id", "type"} <= set(task["required"])
    assert set(schema["required"]) == {"id", "version", "trigger", "tasks"}


def test_runtime_loading_reports_every_problem_of_a_file(tmp_path: Path) -> None:
    (tmp_path / "two.yaml").write_text(
        "id: two\nversion: 0\ntrigger: {event_types: [a]}\ntasks:\n  - {id: A, type: echo}\n"
    )
    _, problems = check_paths([tmp_path])
    assert [(p.line, p.field) for p in problems] == [(2, "version"), (5, "tasks.0.id")]
