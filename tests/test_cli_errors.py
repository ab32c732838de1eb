"""Every ``taskfactory`` failure is one line on stderr and a non-zero exit, never a traceback.

The command runs as a subprocess, as a user runs it. Temporal and Kafka are "unreachable" on
a loopback port nothing listens on; the unknown run id is asked of the real Temporal.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).with_name("taskfactory")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_error_line(done: subprocess.CompletedProcess[str], code: int, *says: str) -> str:
    lines = done.stderr.splitlines()
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("taskfactory: error: "), lines[0]
    for text in says:
        assert text in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["runs", "show"], "Missing argument"),
        (["runs", "show", "a", "b"], "unexpected extra argument"),
        (["no-such-command"], "No such command"),
        (["runs", "list", "--limit", "many"], "--limit"),
        (["runs", "list", "--limit", "0"], "--limit"),
        (["runs", "list", "--definition", "x' OR '1'='1"], "--definition"),
        (["runs", "list", "--subject", "why?"], "--subject"),
        (["runs", "list", "--status", "Sleeping"], "--status"),
        (["dlq", "list", "--source-offsets", "x-y"], "expected FROM-TO source offsets"),
        (["schedules", "backfill", "s", "--from", "yesterday", "--to", "now"], "--from"),
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(v),
)
def test_bad_arguments_are_one_line_and_exit_2(args: list[str], says: str) -> None:
    port = _closed_port()  # nothing may be reached before the arguments are checked
    done = _run(
        *args,
        TASKFACTORY_TEMPORAL__ADDRESS=f"127.0.0.1:{port}",
        TASKFACTORY_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{port}",
    )
    _one_error_line(done, 2, says)


def test_an_event_file_that_is_no_event_is_one_line_naming_it(tmp_path: Path) -> None:
    for text, says in (("{not json", "JSONDecodeError"), ('[{"id": 1}]', "source: Field required")):
        path = tmp_path / "event.json"
        path.write_text(text)
        done = _run("explain", "--event", str(path))
        _one_error_line(done, 2, str(path), says)


def test_a_missing_file_is_one_line_and_exit_1() -> None:
    done = _run("explain", "--event", "/no/such/event.json")
    _one_error_line(done, 1, "No such file or directory: /no/such/event.json")


@pytest.mark.parametrize(
    "args",
    [
        ["runs", "show", "some-run"],
        ["runs", "list"],
        ["runs", "approve", "some-run", "review", "--by", "credit-team"],
        ["runs", "cancel", "some-run"],
        ["schedules", "list"],
        ["schedules", "sync", "--dry-run"],
    ],
    ids="-".join,
)
def test_temporal_unreachable_is_one_line_and_exit_1(args: list[str]) -> None:
    port = _closed_port()
    done = _run(*args, TASKFACTORY_TEMPORAL__ADDRESS=f"127.0.0.1:{port}")
    _one_error_line(done, 1, f"cannot connect to 127.0.0.1:{port}")


@pytest.mark.parametrize("args", [["dlq", "list"], ["dlq", "replay", "--dry-run"]], ids="-".join)
def test_kafka_unreachable_is_one_line_and_exit_1(args: list[str]) -> None:
    port = _closed_port()
    done = _run(
        *args,
        TASKFACTORY_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{port}",
        TASKFACTORY_KAFKA__REQUEST_TIMEOUT_MS="2000",
    )
    _one_error_line(done, 1, "Kafka", f"127.0.0.1', {port}")


def test_invalid_settings_are_one_line_naming_the_setting_without_its_value() -> None:
    done = _run(
        "runs",
        "list",
        TASKFACTORY_KAFKA__SECURITY_PROTOCOL="SASL_SSL",
        TASKFACTORY_KAFKA__SASL_PASSWORD="Pw1",
    )
    line = _one_error_line(done, 1, "invalid settings", "TASKFACTORY_KAFKA__SASL_MECHANISM")
    assert "Pw1" not in line


@pytest.mark.integration
def test_an_unknown_run_id_is_one_line_and_exit_1(stack: object, uid: str) -> None:
    for args in (["runs", "show", f"{uid}/nobody"], ["runs", "cancel", f"{uid}/nobody"]):
        done = _run(*args)
        _one_error_line(done, 1, "not found", f"{uid}/nobody")


@pytest.mark.integration
def test_an_unknown_schedule_is_one_line(stack: object, uid: str) -> None:
    for command in ("describe", "trigger", "pause"):
        done = _run("schedules", command, f"{uid}-nothing")
        _one_error_line(done, 2, f"no taskfactory schedule '{uid}-nothing'")
