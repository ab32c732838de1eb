"""Hostile definition files are refused fast, naming file, line, field and reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import structlog

from taskfactory_runtime.definitions import (
    MAX_YAML_DEPTH,
    DefinitionProblem,
    DefinitionSetError,
    DefinitionsWatcher,
    check_paths,
    load_definitions,
)

GOOD = """id: greeting
version: 2
trigger: {event_types: [com.example.greeting.requested]}
tasks:
  - {id: say-hello, type: echo, params: {message: hi}}
"""

# The classic "billion laughs" in 433 bytes: 9^9 strings once the aliases are expanded.
ALIAS_BOMB = """id: bomb
version: 1
trigger: {event_types: [t]}
tasks:
  - id: boom
    type: echo
    params:
      a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
      b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
      c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
      d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
      e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
      f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
      g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
      h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
      i: [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _only_problem(tmp_path: Path, name: str, content: str | bytes) -> DefinitionProblem:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    definitions, problems = check_paths([path])
    assert definitions == []
    [problem] = problems
    assert problem.file == str(path)
    return problem


def test_a_yaml_alias_bomb_is_refused_naming_file_line_and_field(tmp_path: Path) -> None:
    # Today it takes seconds of CPU per level and is reported valid.
    problem = _only_problem(tmp_path, "bomb.yaml", ALIAS_BOMB)
    assert problem.line == 9
    assert problem.field == "tasks.0.params.b.0"
    assert "YAML aliases (*a) are not supported" in problem.reason


def test_an_alias_in_markdown_front_matter_points_at_the_file_line(tmp_path: Path) -> None:
    text = "---\n" + GOOD + "description: &d hi\nextra: *d\n---\nbody\n"
    problem = _only_problem(tmp_path, "alias.md", text)
    assert problem.line == 8
    assert "aliases" in problem.reason


def test_a_file_that_is_not_utf8_is_refused_naming_line_and_byte(tmp_path: Path) -> None:
    content = GOOD.replace("message: hi", "message: caf\xe9").encode("latin-1")
    problem = _only_problem(tmp_path, "latin1.yaml", content)
    assert (problem.line, problem.field) == (5, "<file>")
    assert "not UTF-8: byte 0xe9 at column" in problem.reason


def test_deeply_nested_yaml_is_refused_naming_the_field(tmp_path: Path) -> None:
    nested = "[" * 40 + "1" + "]" * 40
    problem = _only_problem(tmp_path, "deep.yaml", GOOD.replace("message: hi", f"deep: {nested}"))
    assert problem.line == 5
    assert problem.field.startswith("tasks.0.params.deep.0.0.0")
    assert f"nested deeper than {MAX_YAML_DEPTH} levels" in problem.reason


def test_yaml_nested_far_beyond_the_recursion_limit_is_refused(tmp_path: Path) -> None:
    # Today: RecursionError out of the loader, which also stops the watcher.
    nested = "[" * 20_000 + "]" * 20_000
    problem = _only_problem(tmp_path, "abyss.yaml", GOOD + f"description: {nested}\n")
    assert problem.field.startswith("description.0.0")
    assert "nested deeper than" in problem.reason


def test_a_definition_with_too_many_tasks_is_refused(tmp_path: Path) -> None:
    tasks = "".join(f"  - {{id: t{i}, type: echo}}\n" for i in range(101))
    text = GOOD.split("tasks:")[0] + "tasks:\n" + tasks
    problem = _only_problem(tmp_path, "many.yaml", text)
    assert problem.field == "tasks"
    assert "at most 100 items" in problem.reason


def test_an_http_task_whose_host_comes_from_the_event_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace(
        "{id: say-hello, type: echo, params: {message: hi}}",
        '{id: call, type: http, params: {url: "https://{{ event.tenant }}.example.com/x"}}',
    )
    problem = _only_problem(tmp_path, "host.yaml", text)
    assert (problem.line, problem.field) == (5, "tasks.0.params.url")
    assert "sits in the scheme or host" in problem.reason
    assert "raw(event.tenant)" in problem.reason


def test_an_http_context_url_with_a_templated_host_is_refused(tmp_path: Path) -> None:
    text = GOOD + 'context:\n  c: {kind: http, url: "{{ event.source }}/x"}\n'
    problem = _only_problem(tmp_path, "ctx.yaml", text)
    assert problem.field == "context.c.url"
    assert "sits in the scheme or host" in problem.reason


def test_an_expression_bomb_is_refused_at_load(tmp_path: Path) -> None:
    text = GOOD + "  - {id: fmt, type: echo, params: {m: \"{{ '%01000000000d' % 1 }}\"}}\n"
    problem = _only_problem(tmp_path, "fmt.yaml", text)
    assert problem.field == "tasks.1.params"
    assert "string formatting" in problem.reason


def _write(path: Path, content: str | bytes, stamp: int) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    # The watcher compares mtimes; make each write visibly newer.
    os.utime(path, ns=(stamp, stamp))


BAD_FILES: list[tuple[str, str | bytes, str]] = [
    ("alias bomb", ALIAS_BOMB, "aliases"),
    ("latin-1", GOOD.replace("hi", "caf\xe9").encode("latin-1"), "not UTF-8"),
    ("deep", GOOD + "description: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper"),
    ("binary", bytes(range(256)) * 4, "not UTF-8"),
    ("control", "id: x\x00\n", "not valid YAML"),
    ("not a mapping", "- 1\n- 2\n", "expected a mapping"),
    ("empty", "", "expected a mapping"),
    ("bad expression", GOOD.replace("hi", '"{{ ((( }}"'), "invalid expression"),
    ("too many tasks", GOOD + "  - {id: b, type: echo}\n" * 100, "at most 100"),
]


async def test_the_watcher_survives_every_bad_file_and_keeps_the_last_good_set(
    tmp_path: Path,
) -> None:
    path = tmp_path / "greeting.yaml"
    _write(path, GOOD, 1_000_000_000)
    applied: list[list[str]] = []
    watcher = DefinitionsWatcher(tmp_path, lambda ds: applied.append([d.id for d in ds]))
    for stamp, (name, content, reason) in enumerate(BAD_FILES, start=2):
        _write(path, content, stamp * 1_000_000_000)
        with structlog.testing.capture_logs() as logs:
            assert await watcher.check() is False, name
        rejected = [e for e in logs if e["log_level"] == "error"]
        assert rejected, name
        assert rejected[0]["file"] == str(path), name
        assert reason in rejected[0]["reason"], name
        assert [d.id for d in watcher.current] == ["greeting"], name
    assert watcher.rejected == len(BAD_FILES)
    assert applied == []
    _write(path, GOOD.replace("version: 2", "version: 3"), 99_000_000_000)
    assert await watcher.check() is True
    assert applied == [["greeting"]]
    assert watcher.current[0].version == 3


async def test_the_watcher_survives_a_failing_apply(tmp_path: Path) -> None:
    path = tmp_path / "greeting.yaml"
    _write(path, GOOD, 1_000_000_000)

    def explode(_: object) -> None:
        raise RuntimeError("consumer gone")

    watcher = DefinitionsWatcher(tmp_path, explode)
    _write(path, GOOD.replace("version: 2", "version: 3"), 2_000_000_000)
    with structlog.testing.capture_logs() as logs:
        assert await watcher.check() is False
    assert any("applying the reloaded definitions failed" in e["event"] for e in logs)
    assert watcher.current[0].version == 2
    assert watcher.rejected == 1


def test_a_folder_reports_every_bad_file_not_just_the_first(tmp_path: Path) -> None:
    for i, (_, content, _) in enumerate(BAD_FILES):
        _write(tmp_path / f"f{i}.yaml", content, 1_000_000_000)
    with pytest.raises(DefinitionSetError) as err:
        load_definitions(tmp_path)
    files = {p.file for p in err.value.problems}
    assert files == {str(tmp_path / f"f{i}.yaml") for i in range(len(BAD_FILES))}
