"""Artifacts from Maven Central through ``mvn`` (the one place the stack runs Maven)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from taskfactory_stack.process import StackError

__all__ = ["copy_dependencies", "run_mvn", "unpack"]


def run_mvn(component: str, what: str, args: list[str]) -> None:
    """Run ``mvn -q -B args``; raise a one-line ``StackError`` naming ``what`` on failure."""
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            raise StackError(f"{component}: `{tool}` is missing; install a JDK and Maven")
    proc = subprocess.run(["mvn", "-q", "-B", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
        raise StackError(
            f"{component}: download of {what} failed (mvn exit {proc.returncode}): {last}"
        )


def copy_dependencies(component: str, what: str, pom: Path, libs: Path) -> None:
    """Copy the runtime dependencies of ``pom`` into ``libs``."""
    run_mvn(
        component,
        what,
        [
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ],
    )


def unpack(component: str, artifact: str, into: Path) -> None:
    """Unpack the archive ``artifact`` (``group:name:version:type[:classifier]``) into ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    run_mvn(
        component,
        artifact,
        ["dependency:unpack", f"-Dartifact={artifact}", f"-DoutputDirectory={into}"],
    )
