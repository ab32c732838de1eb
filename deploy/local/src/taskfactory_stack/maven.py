"""Artifacts from Maven Central, fetched once with ``mvn`` into the stack's cache."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from taskfactory_stack.errors import StackError
from taskfactory_stack.settings import StackSettings

__all__ = ["cache_root", "copy", "copy_dependencies", "pom", "unpack"]


def cache_root(settings: StackSettings) -> Path:
    """Where downloads are cached: beside Kafka's jars when they live elsewhere, else ``<dir>``."""
    return settings.jars_dir.resolve().parent if settings.jars_dir else settings.root


def pom(artifact: str, *, version: str, group: str, kind: str = "jar") -> str:
    """A POM whose only dependency is ``group:artifact:version`` of type ``kind``."""
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        f"<groupId>io.taskfactory.stack</groupId><artifactId>{artifact}-fetch</artifactId>"
        "<version>1</version><packaging>pom</packaging><dependencies><dependency>"
        f"<groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
        f"<version>{version}</version><type>{kind}</type></dependency></dependencies></project>\n"
    )


def copy_dependencies(who: str, pom_text: str, home: Path, output: Path, *args: str) -> None:
    """``mvn dependency:copy-dependencies`` of ``pom_text`` (written to ``home``) into ``output``.

    ``args`` add Maven properties (``-DincludeScope=runtime``); a failure raises a
    :class:`StackError` naming ``who`` with Maven's last lines.
    """
    home.mkdir(parents=True, exist_ok=True)
    pom_file = home / "pom.xml"
    pom_file.write_text(pom_text)
    _mvn(
        who,
        "-f",
        str(pom_file),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={output}",
        *args,
    )


def copy(who: str, artifact: str, into: Path) -> Path:
    """``mvn dependency:copy`` of the file ``artifact`` into ``into``; returns the copied file.

    ``artifact`` is ``group:name:version:type[:classifier]`` (an executable jar is
    ``…:jar:exec``); like :func:`unpack`, Maven runs in a throw-away folder.
    """
    _group, name, version, kind, *classifier = artifact.split(":")
    _dependency_goal(who, "dependency:copy", artifact, into)
    copied = into / ("-".join([name, version, *classifier]) + f".{kind}")
    if not copied.is_file():
        raise StackError(f"{who}: mvn copied nothing of {artifact} into {into}")
    return copied


def unpack(who: str, artifact: str, into: Path) -> None:
    """``mvn dependency:unpack`` of the archive ``artifact`` into ``into``.

    ``artifact`` is ``group:name:version:type[:classifier]``. Outside a project, Maven keeps
    its "already unpacked" markers under a literal ``${project.basedir}/target`` of the working
    directory and then skips the unpack for ever; it runs in a throw-away folder instead, and an
    unpack that left ``into`` empty is an error.
    """
    _dependency_goal(who, "dependency:unpack", artifact, into)
    if not any(into.iterdir()):
        raise StackError(f"{who}: mvn unpacked nothing of {artifact} into {into}")


def _dependency_goal(who: str, goal: str, artifact: str, into: Path) -> None:
    """``mvn goal`` of ``artifact`` into ``into``, in a throw-away folder (see :func:`unpack`)."""
    into.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="taskfactory-mvn-") as scratch:
        _mvn(who, goal, f"-Dartifact={artifact}", f"-DoutputDirectory={into}", cwd=Path(scratch))


def _mvn(who: str, *args: str, cwd: Path | None = None) -> None:
    """``mvn -q -B args``; a failure raises a :class:`StackError` naming ``who`` with Maven's
    last lines."""
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            raise StackError(f"{who}: `{tool}` is missing; install a JDK 17+ and Maven")
    proc = subprocess.run(
        ["mvn", "-q", "-B", *args], capture_output=True, text=True, check=False, cwd=cwd
    )
    if proc.returncode != 0:
        last = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise StackError(
            f"{who}: download from Maven Central failed (mvn exit {proc.returncode}): "
            + " | ".join(last)
        )
