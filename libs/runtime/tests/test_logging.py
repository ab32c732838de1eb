"""Log lines: JSON on stderr, debug only when asked for, secrets redacted."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from taskfactory_runtime.logging import configure_logging, get_logger
from taskfactory_runtime.settings import LoggingSettings


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def _lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_at_info_debug_lines_are_dropped_and_info_lines_are_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(LoggingSettings(level="INFO"), service="ingress")
    log = get_logger("taskfactory.test.info")
    log.debug("per record", offset=1)
    log.info("batch", records=500, password="hunter2")
    lines = _lines(capsys.readouterr().err)
    assert [line["event"] for line in lines] == ["batch"]
    assert lines[0]["service"] == "ingress"
    assert lines[0]["records"] == 500
    assert lines[0]["password"] == "**redacted**"


def test_at_debug_debug_lines_are_written(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LoggingSettings(level="DEBUG"), service="ingress")
    get_logger("taskfactory.test.debug").debug("per record", offset=7)
    (line,) = _lines(capsys.readouterr().err)
    assert line["event"] == "per record"
    assert line["level"] == "debug"
    assert line["offset"] == 7
