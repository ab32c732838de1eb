"""Prometheus's ``promtool`` (checks and unit-tests alert rules), built from its Go module."""

from __future__ import annotations

from pathlib import Path

from taskfactory_stack.gobuild import build_go_command
from taskfactory_stack.settings import StackSettings

__all__ = ["PROMETHEUS_MODULE", "PROMETHEUS_VERSION", "ensure_promtool"]

PROMETHEUS_MODULE = "github.com/prometheus/prometheus"
# Go module versions of Prometheus 3.x are v0.3MM.P: v0.307.3 is Prometheus 3.7.3.
PROMETHEUS_VERSION = "v0.307.3"


def _release(version: str) -> str:
    minor, patch = version.removeprefix("v0.").split(".")
    return f"{int(minor) // 100}.{int(minor) % 100}.{patch}"


def ensure_promtool(settings: StackSettings, version: str = PROMETHEUS_VERSION) -> Path:
    """``<stack dir>/bin/promtool`` of ``version``, built the first time (one `go build`)."""
    base = settings.jars_dir.resolve().parent if settings.jars_dir else settings.root
    binary = base / "bin" / "promtool"
    stamp = binary.with_name("promtool.build")
    if binary.exists() and stamp.exists() and stamp.read_text().strip() == version:
        return binary
    build_go_command(
        "promtool",
        PROMETHEUS_MODULE,
        version,
        "./cmd/promtool",
        binary,
        ldflags=f"-s -w -X github.com/prometheus/common/version.Version={_release(version)}",
    )
    stamp.write_text(f"{version}\n")
    return binary
