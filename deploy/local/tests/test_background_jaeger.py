"""A cold start builds Jaeger in a process of its own, which reports how it ended or is stopped.

The build is real (``go mod download`` of the Jaeger module), against a private module cache
and a proxy that never answers (the build stays under way until stopped) or no proxy at all
(the build fails at once); nothing is compiled.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from taskfactory_stack.jaeger import BackgroundJaeger, JaegerComponent
from taskfactory_stack.process import free_port
from taskfactory_stack.settings import StackSettings


def _group(pgid: int) -> list[int]:
    """Pids of the live processes in process group ``pgid``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def background(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BackgroundJaeger]:
    monkeypatch.setenv("TASKFACTORY_STACK_DIR", str(tmp_path / "stack"))
    for port in ("UI", "OTLP_GRPC", "OTLP_HTTP", "QUERY_GRPC", "HEALTH"):
        monkeypatch.setenv(f"TASKFACTORY_STACK_JAEGER_{port}_PORT", str(free_port()))
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "gomodcache"))
    monkeypatch.setenv("GOSUMDB", "off")
    monkeypatch.setenv("GOFLAGS", "-modcacherw")
    jaeger = BackgroundJaeger(JaegerComponent(StackSettings()), tmp_path / "demo")
    assert jaeger.needed(), "a cold machine has no Jaeger binary"
    try:
        yield jaeger
    finally:
        jaeger.stop()


def test_stop_ends_a_build_under_way_go_included(
    background: BackgroundJaeger, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        monkeypatch.setenv("GOPROXY", f"http://127.0.0.1:{silent.getsockname()[1]}")
        background.start()
        pid = background.process.pid()
        assert pid is not None

        def go_runs() -> bool:
            return len(_group(pid)) >= 2  # taskfactory-stack and its `go mod download`

        _until(go_runs, "the background build to run go")
        assert background.state() == "building"
        assert background.stop() is True
        assert _group(pid) == [], "a process of the build outlived stop()"
    assert background.state() == "failed"


def test_a_failed_build_is_reported_with_its_log(
    background: BackgroundJaeger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOPROXY", "off")
    background.start()
    _until(lambda: background.state() != "building", "the build to end")
    assert background.state() == "failed"
    log = background.process.log_file.read_text()
    assert "jaeger: download of github.com/jaegertracing/jaeger" in log
