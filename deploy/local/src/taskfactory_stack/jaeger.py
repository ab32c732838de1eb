"""Jaeger v2 (all-in-one, in-memory) built from its Go module, so traces have somewhere to go."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from taskfactory_stack.components import Component, _file
from taskfactory_stack.process import StackError

__all__ = ["JAEGER_MODULE", "JaegerComponent"]

JAEGER_MODULE = "github.com/jaegertracing/jaeger"


def _remove(tree: Path) -> None:
    if tree.exists():
        for path in [tree, *tree.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o700 if path.is_dir() else 0o600)
        shutil.rmtree(tree)


@dataclass
class JaegerComponent(Component):
    """Jaeger's OTLP receiver and query UI on loopback ports."""

    name: str = "jaeger"

    @property
    def ports(self) -> tuple[int, ...]:
        s = self.settings
        return (
            s.jaeger_ui_port,
            s.jaeger_otlp_grpc_port,
            s.jaeger_otlp_http_port,
            s.jaeger_query_grpc_port,
            s.jaeger_health_port,
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.settings.jaeger_otlp_grpc_port}"

    @property
    def extra(self) -> str:
        return f"UI http://127.0.0.1:{self.settings.jaeger_ui_port}"

    @property
    def otlp_endpoint(self) -> str:
        """Where services export spans (OTLP gRPC)."""
        return f"http://{self.address}"

    @property
    def binary(self) -> Path:
        """The built ``jaeger`` binary (cached across `down`/`up`)."""
        jars = self.settings.jars_dir.resolve().parent if self.settings.jars_dir else None
        base = jars or self.settings.root
        return base / "jaeger" / self.settings.jaeger_version / "jaeger"

    def _build(self) -> None:
        # `go install module@version` refuses Jaeger (its go.mod has replace directives), so
        # download the module with the Go module proxy and build its cmd/jaeger from there.
        if shutil.which("go") is None:
            raise StackError("jaeger: `go` is missing; install Go to build Jaeger")
        version = self.settings.jaeger_version
        print(
            f"jaeger: building Jaeger {version} from its Go module (first time only, minutes) …",
            flush=True,
        )
        download = subprocess.run(
            ["go", "mod", "download", "-json", f"{JAEGER_MODULE}@{version}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if download.returncode != 0:
            raise StackError(
                f"jaeger: download of {JAEGER_MODULE}@{version} failed: "
                f"{(download.stdout + download.stderr).strip()[-300:]}"
            )
        source = Path(json.loads(download.stdout)["Dir"])
        work = self.binary.parent / "src"
        _remove(work)
        # The module cache is read-only; the copy must be writable to build in and delete.
        shutil.copytree(source, work, copy_function=shutil.copy)
        for path in [work, *work.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        build = subprocess.run(
            ["go", "build", "-trimpath", "-o", str(self.binary), "./cmd/jaeger"],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "CGO_ENABLED": "0"},
        )
        _remove(work)
        if build.returncode != 0:
            raise StackError(
                f"jaeger: build failed: {(build.stdout + build.stderr).strip()[-400:]}"
            )

    def prepare(self) -> None:
        if not self.binary.exists():
            self._build()
        conf = self.settings.root / "jaeger" / "config.yaml"
        conf.parent.mkdir(parents=True, exist_ok=True)
        s = self.settings
        conf.write_text(
            _file("jaeger.yaml")
            .replace("@UI_PORT@", str(s.jaeger_ui_port))
            .replace("@OTLP_GRPC_PORT@", str(s.jaeger_otlp_grpc_port))
            .replace("@OTLP_HTTP_PORT@", str(s.jaeger_otlp_http_port))
            .replace("@QUERY_GRPC_PORT@", str(s.jaeger_query_grpc_port))
            .replace("@HEALTH_PORT@", str(s.jaeger_health_port))
        )

    def argv(self) -> tuple[list[str], dict[str, str]]:
        conf = self.settings.root / "jaeger" / "config.yaml"
        return [str(self.binary), "--config", f"file:{conf}"], dict(os.environ)

    async def probe(self) -> str | None:
        import httpx

        try:
            async with httpx.AsyncClient(timeout=3) as http:
                health = await http.get(
                    f"http://127.0.0.1:{self.settings.jaeger_health_port}/status"
                )
                if health.status_code != 200:
                    return f"health {health.status_code}"
                query = await http.get(
                    f"http://127.0.0.1:{self.settings.jaeger_ui_port}/api/services"
                )
                return None if query.status_code == 200 else f"query API {query.status_code}"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
