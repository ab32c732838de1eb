"""Definition files: valid ones load; a bad one names the file, field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from taskfactory_contracts import ActivityDefinition, DefinitionError
from taskfactory_runtime.definitions import front_matter, load_definition, load_definitions

GOOD = """
id: greeting
version: 2
trigger: {event_types: [com.example.greeting.requested]}
tasks:
  - {id: say-hello, type: echo, params: {message: hi}}
"""


def test_a_yaml_definition_loads_with_its_fields(tmp_path: Path) -> None:
    (tmp_path / "greeting.yaml").write_text(GOOD)
    [definition] = load_definitions(tmp_path)
    assert definition.id == "greeting"
    assert definition.version == 2
    assert definition.tasks[0].params == {"message": "hi"}


def test_markdown_front_matter_body_becomes_the_description(tmp_path: Path) -> None:
    (tmp_path / "greeting.md").write_text(f"---{GOOD}---\n# Greeting\nSays hello.\n")
    definition = load_definition(tmp_path / "greeting.md")
    assert definition.description == "# Greeting\nSays hello."


def test_a_missing_field_is_reported_with_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace("version: 2", "version: 0"))
    with pytest.raises(DefinitionError) as err:
        load_definition(path)
    assert err.value.file == str(path)
    assert err.value.field == "version"
    assert str(err.value).startswith(
        f"{path}:3: version: Input should be greater than or equal to 1"
    )


def test_an_unknown_template_field_is_rejected_at_load_time(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD + 'correlation: {workflow_id: "x/{nope}"}\n')
    with pytest.raises(DefinitionError, match="unknown field 'nope'"):
        load_definition(path)


def test_broken_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: [unclosed\n")
    with pytest.raises(DefinitionError, match=r"broken.yaml:\d+: <yaml>: not valid YAML"):
        load_definition(path)


def test_duplicate_ids_across_files_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    with pytest.raises(DefinitionError, match="already defined in") as err:
        load_definitions(tmp_path)
    assert err.value.field == "id"


def test_the_shipped_examples_are_valid() -> None:
    examples = Path(__file__).parents[3] / "examples" / "definitions"
    assert "greeting" in [d.id for d in load_definitions(examples)]


def _padded(size: int) -> str:
    """The GOOD definition grown to ``size`` bytes by a trailing YAML comment."""
    return GOOD + "#" + "x" * (size - len(GOOD) - 2) + "\n"


def test_a_file_over_the_default_limit_of_one_mib_is_refused_naming_file_and_limit(
    tmp_path: Path,
) -> None:
    from taskfactory_runtime.definitions import MAX_DEFINITION_BYTES, DefinitionSetError

    assert MAX_DEFINITION_BYTES == 1024 * 1024
    (tmp_path / "at-limit.yaml").write_text(_padded(MAX_DEFINITION_BYTES))
    assert [d.id for d in load_definitions(tmp_path)] == ["greeting"]
    (tmp_path / "at-limit.yaml").rename(tmp_path / "huge.yaml")
    (tmp_path / "huge.yaml").write_text(_padded(MAX_DEFINITION_BYTES + 1))
    with pytest.raises(DefinitionSetError) as err:
        load_definitions(tmp_path)
    [problem] = err.value.problems
    assert problem.file == str(tmp_path / "huge.yaml")
    assert problem.field == "<file>"
    assert "1048577 bytes, over the limit of 1048576 bytes" in problem.reason
    assert "TASKFACTORY_DEFINITIONS_MAX_BYTES" in problem.reason


async def test_hot_reload_refuses_an_oversized_file_and_keeps_the_last_good_set(
    tmp_path: Path,
) -> None:
    from taskfactory_runtime.definitions import DefinitionsWatcher

    (tmp_path / "greeting.yaml").write_text(GOOD)
    applied: list[list[str]] = []
    watcher = DefinitionsWatcher(
        tmp_path, lambda ds: applied.append([d.id for d in ds]), max_bytes=4096
    )
    (tmp_path / "greeting.yaml").write_text(_padded(4097))
    assert await watcher.check() is False
    assert watcher.rejected == 1
    assert [d.id for d in watcher.current] == ["greeting"]
    assert applied == []
    (tmp_path / "greeting.yaml").write_text(_padded(4096))
    assert await watcher.check() is True
    assert applied == [["greeting"]]


def test_the_limit_is_a_setting_with_a_sane_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from taskfactory_runtime.settings import ServiceSettings

    assert ServiceSettings().definitions_max_bytes == 1024 * 1024
    monkeypatch.setenv("TASKFACTORY_DEFINITIONS_MAX_BYTES", "65536")
    assert ServiceSettings().definitions_max_bytes == 65536
    monkeypatch.setenv("TASKFACTORY_DEFINITIONS_MAX_BYTES", "10")
    with pytest.raises(ValidationError, match="definitions_max_bytes"):
        ServiceSettings()


@pytest.mark.parametrize(
    ("old", "new"), [("http.request", "http"), ("kafka.publish", "kafka_publish")]
)
def test_an_old_task_type_spelling_is_refused_naming_the_one_to_write(
    tmp_path: Path, old: str, new: str
) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(GOOD + f"  - {{id: b, type: echo, compensate: {{type: {old}}}}}\n")
    with pytest.raises(DefinitionError) as err:
        load_definitions(tmp_path)
    assert str(err.value) == (
        f"{path}:7: tasks.1.compensate.type: task type {old!r} is an old spelling; write {new!r}"
    )


def test_a_run_started_before_still_carries_its_old_spelling() -> None:
    """A run's input holds its definition: the model itself must go on accepting it."""
    doc = yaml.safe_load(GOOD.replace("type: echo, params: {message: hi}", "type: kafka.publish"))
    assert ActivityDefinition.model_validate(doc).tasks[0].type == "kafka.publish"


def test_front_matter_reads_a_markdown_definition_as_the_loader_does(tmp_path: Path) -> None:
    path = tmp_path / "greeting.md"
    path.write_text(f"---{GOOD}---\n# Greeting\n")
    doc, body = front_matter(path)
    assert (doc["id"], doc["tasks"][0]["params"], body) == (
        "greeting",
        {"message": "hi"},
        "# Greeting",
    )
    path.write_text(GOOD)
    with pytest.raises(DefinitionError, match="start with '---' front matter") as err:
        front_matter(path)
    assert err.value.file == str(path)
