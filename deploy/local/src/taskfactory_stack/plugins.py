"""Installing the example plugin packages for the executor (``uv pip install --target``,
cached by a digest of their sources)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from taskfactory_stack.errors import StackError
from taskfactory_stack.examples import PLUGINS
from taskfactory_stack.process import run_tool

__all__ = [
    "install_plugins",
    "pip_install_target",
]


def pip_install_target(target: Path, sources: Sequence[Path]) -> None:
    """``uv pip install --no-deps --target target`` the packages at ``sources``."""
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        raise StackError("uv not found on PATH: the example plugins are installed with uv")
    run_tool(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--python",
            sys.executable,
            "--target",
            str(target),
            *(str(s) for s in sources),
        ],
        f"installing {', '.join(map(str, sources))} failed",
    )


def _digest(sources: Sequence[Path]) -> str:
    sha = hashlib.sha256()
    for source in sources:
        for path in sorted(source.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                sha.update(str(path.relative_to(source.parent)).encode() + b"\0")
                sha.update(path.read_bytes() + b"\0")
    return sha.hexdigest()


def install_plugins(target: Path, sources: Sequence[Path] = PLUGINS) -> bool:
    """Install the example plugins into ``target`` (the executor's PYTHONPATH).

    Cached: nothing is done when ``target`` already holds exactly these sources. The new
    install is built beside ``target`` and swapped in, so an interrupted one leaves no half.
    Returns whether it installed.
    """
    digest = _digest(sources)
    stamp = target / ".taskfactory-sources"
    if stamp.is_file() and stamp.read_text() == digest:
        return False
    fresh = target.with_name(f"{target.name}.{os.getpid()}.new")
    shutil.rmtree(fresh, ignore_errors=True)
    try:
        pip_install_target(fresh, sources)
        (fresh / stamp.name).write_text(digest)
        shutil.rmtree(target, ignore_errors=True)
        fresh.rename(target)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return True
