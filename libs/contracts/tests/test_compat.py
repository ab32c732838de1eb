"""The schema-evolution gate passes on the shipped schemas and names the field it rejects."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from taskfactory_contracts.compat import main, resolution_problems
from taskfactory_contracts.schemas import default_store

SCHEMAS = Path(str(default_store().folder))


def _fixture(tmp_path: Path, change: dict[str, Any] | None = None, drop: str = "") -> Path:
    """A copy of the shipped Envelope v1/v2 plus a v3 that is v2 with one field changed."""
    for version in (1, 2):
        name = f"taskfactory.Envelope.v{version}.avsc"
        shutil.copy(SCHEMAS / name, tmp_path / name)
    raw = json.loads((SCHEMAS / "taskfactory.Envelope.v2.avsc").read_text())
    if change is not None:
        raw["fields"] = [change if f["name"] == change["name"] else f for f in raw["fields"]]
        if change["name"] not in {f["name"] for f in raw["fields"]}:
            raw["fields"].append(change)
    raw["fields"] = [f for f in raw["fields"] if f["name"] != drop]
    (tmp_path / "taskfactory.Envelope.v3.avsc").write_text(json.dumps(raw))
    return tmp_path


def test_shipped_schemas_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(SCHEMAS)]) == 0
    assert "taskfactory.Envelope (v1, v2) compatible" in capsys.readouterr().out


def test_compatible_addition_passes(tmp_path: Path) -> None:
    added = {"name": "region", "type": ["null", "string"], "default": None}
    assert main([str(_fixture(tmp_path, added))]) == 0


def test_added_field_without_default_fails_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    added = {"name": "region", "type": "string"}

    assert main([str(_fixture(tmp_path, added))]) == 1

    err = capsys.readouterr().err
    assert "taskfactory.Envelope v2 -> v3: not backward compatible (v3 reading v2)" in err
    assert "field 'region'" in err
    assert "v1 -> v2" not in err


def test_removed_field_without_default_fails_forward(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(_fixture(tmp_path, drop="subject"))]) == 1
    err = capsys.readouterr().err
    assert "not forward compatible (v2 reading v3)" in err
    assert "field 'subject'" in err


def test_narrowed_type_fails_backward_naming_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = {"name": "time", "type": "int"}
    assert main([str(_fixture(tmp_path, changed))]) == 1
    err = capsys.readouterr().err
    assert "not backward compatible" in err
    assert "field 'time': reader type: int not compatible with writer type: long" in err


def test_timestamp_micros_to_millis_fails_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same underlying long, so the checker (and a registry) would pass it: the values would
    be read a thousand times too far in the future."""
    changed = {"name": "time", "type": {"type": "long", "logicalType": "timestamp-millis"}}
    assert main([str(_fixture(tmp_path, changed))]) == 1
    err = capsys.readouterr().err
    assert (
        "not backward compatible (v3 reading v2): field 'time': logical type timestamp-micros "
        "read as timestamp-millis" in err
    )
    assert "not forward compatible (v2 reading v3): field 'time'" in err


@pytest.mark.parametrize(
    ("writer", "reader", "ok"),
    [
        (
            ["null", {"type": "long", "logicalType": "timestamp-micros"}],
            ["null", {"type": "long", "logicalType": "timestamp-micros"}],
            True,
        ),
        (
            ["null", {"type": "long", "logicalType": "timestamp-micros"}],
            ["null", {"type": "long", "logicalType": "timestamp-millis"}],
            False,
        ),
        ({"type": "long", "logicalType": "timestamp-micros"}, "long", False),
        (
            {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
            {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 3},
            False,
        ),
        (
            {"type": "array", "items": {"type": "int", "logicalType": "date"}},
            {"type": "array", "items": {"type": "int", "logicalType": "time-millis"}},
            False,
        ),
    ],
)
def test_logical_types_are_compared(writer: Any, reader: Any, ok: bool) -> None:
    problems = resolution_problems(writer, reader)
    assert (problems == []) is ok, problems
    assert all("logical type" in p for p in problems)


def test_command_line_exit_code(tmp_path: Path) -> None:
    fixture = _fixture(tmp_path, {"name": "region", "type": "string"})
    run = subprocess.run(
        [sys.executable, "-m", "taskfactory_contracts.compat", str(fixture)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert "field 'region'" in run.stderr


def test_unloadable_folder_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taskfactory.Envelope.v1.avsc").write_text("{not json")
    assert main([str(tmp_path)]) == 2
    assert "cannot load" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("writer", "reader", "ok"),
    [
        ("int", "long", True),
        ("long", "int", False),
        ("string", ["null", "string"], True),
        (["null", "string"], "string", False),
        (
            {"type": "enum", "name": "E", "symbols": ["a", "b"]},
            {"type": "enum", "name": "E", "symbols": ["a"]},
            False,
        ),
        (
            {"type": "enum", "name": "E", "symbols": ["a", "b"]},
            {"type": "enum", "name": "E", "symbols": ["a"], "default": "a"},
            True,
        ),
        ({"type": "array", "items": "int"}, {"type": "array", "items": "string"}, False),
        ({"type": "map", "values": "string"}, {"type": "map", "values": "bytes"}, True),
    ],
)
def test_resolution_rules(writer: Any, reader: Any, ok: bool) -> None:
    assert (resolution_problems(writer, reader) == []) is ok
