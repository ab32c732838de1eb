"""A service started with port 0 binds a free port itself and reports it; the harness uses it.

The executor here is the real one (``python -m taskfactory_executor``). Its Kafka is a socket
that accepts connections and never answers, so the process stays in its start (waiting for
Kafka) with its health endpoint up: no Kafka or Temporal is needed.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskfactory_stack.errors import StackError
from taskfactory_stack.process import TrackedProcess, logged_port, reported_port
from taskfactory_stack.running import RunningServices
from taskfactory_stack.services import ServiceSet


@pytest.fixture
def silent_kafka() -> Iterator[str]:
    """A bootstrap address that accepts connections and never answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        yield f"127.0.0.1:{silent.getsockname()[1]}"


def _env(kafka: str, **more: str) -> dict[str, str]:
    return {
        "TASKFACTORY_KAFKA__BOOTSTRAP_SERVERS": kafka,
        "TASKFACTORY_HTTP__HOST": "127.0.0.1",
        **more,
    }


async def test_a_service_on_port_0_reports_the_port_it_bound_and_answers_there(
    tmp_path: Path, silent_kafka: str
) -> None:
    services = RunningServices(tmp_path, _env(silent_kafka), group="g")
    try:
        services.start(only=("executor",))
        response = await services.get("executor", "/livez")
        assert (response.status_code, response.json()) == (200, {"status": "ok"})
        port = services.port("executor")
        assert port != 0
        log = services.logs()["executor"]
        assert logged_port(log) == port  # the line it logged as soon as it listened
    finally:
        # Waiting for Kafka it would drain for the whole request timeout: SIGKILL after 2 s.
        services.set.processes["executor"].stop(timeout=2)
        services.stop_all()


def test_a_service_never_started_has_no_port(tmp_path: Path) -> None:
    services = RunningServices(tmp_path, {}, group="g")
    with pytest.raises(StackError, match="ingress: not started"):
        services.port("ingress")


def test_a_service_told_a_taken_port_exits_and_the_error_says_why(
    tmp_path: Path, silent_kafka: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        services = ServiceSet(tmp_path)
        try:
            services.start(
                _env(silent_kafka, TASKFACTORY_HTTP__PORT=str(port)),
                cwd=tmp_path,
                only=("executor",),
            )
            with pytest.raises(StackError, match=r"(?s)executor: exited before.*in use"):
                reported_port(services.processes["executor"], timeout=60)
        finally:
            services.stop()


def test_the_first_json_line_with_the_key_gives_the_port() -> None:
    log = "\n".join(
        [
            "Traceback? no: plain text first",
            '{"event": "settings loaded", "level": "info"}',
            '{"event": "http endpoint serving", "http_port": 43121}',
            '{"event": "executor started", "http_port": 43121}',
            '{"event": "half a line", "http_po',
        ]
    )
    assert logged_port(log) == 43121
    assert logged_port(log, key="port") is None
    assert logged_port('{"http_port": 0}\n{"http_port": true}') is None


def test_a_process_that_reports_nothing_fails_naming_it(tmp_path: Path) -> None:
    process = TrackedProcess("quiet", tmp_path / "quiet.pid", tmp_path / "quiet.log")
    process.start(["/bin/sh", "-c", "echo starting"], cwd=tmp_path)
    with pytest.raises(StackError, match=r"(?s)quiet: exited before.*starting"):
        reported_port(process, timeout=30)
