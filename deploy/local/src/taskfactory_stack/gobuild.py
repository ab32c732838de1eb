"""Build one command of a Go module from the module proxy's source, into the stack cache.

`go install module/cmd/x@version` refuses modules whose go.mod has replace or exclude
directives (Jaeger, Prometheus), so the module is downloaded with `go mod download`, copied
to a writable folder and its command built there with one `go build`.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from taskfactory_stack.errors import StackError
from taskfactory_stack.process import run_tool

__all__ = ["build_go_command"]

# A non-login shell (CI) may lack the Go distribution's folder on PATH.
_GO_DIST_BIN = Path("/usr/local/go/bin")


def _remove_tree(tree: Path) -> None:
    """Delete a folder copied from the read-only module cache."""
    if tree.exists():
        for path in [tree, *tree.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o700 if path.is_dir() else 0o600)
        shutil.rmtree(tree)


def _go() -> str:
    go = shutil.which("go") or shutil.which("go", path=str(_GO_DIST_BIN))
    if go is None:
        raise StackError("`go` is missing; install Go to build the stack's Go tools")
    return go


def build_go_command(
    name: str, module: str, version: str, package: str, output: Path, *, ldflags: str = ""
) -> None:
    """Build ``package`` (e.g. ``./cmd/promtool``) of ``module@version`` as ``output``."""
    go = _go()
    print(f"{name}: building {module}@{version} {package} (first time only, minutes) …", flush=True)
    download = run_tool(
        [go, "mod", "download", "-json", f"{module}@{version}"],
        f"{name}: download of {module}@{version} failed",
    )
    source = Path(json.loads(download)["Dir"])
    output.parent.mkdir(parents=True, exist_ok=True)
    work = output.parent / f".{output.name}-src"
    _remove_tree(work)
    # The module cache is read-only; the copy must be writable to build in and delete.
    shutil.copytree(source, work, copy_function=shutil.copy)
    for path in [work, *work.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    try:
        run_tool(
            [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(output), package],
            f"{name}: build failed",
            cwd=work,
            env={**os.environ, "CGO_ENABLED": "0"},
        )
    finally:
        _remove_tree(work)
