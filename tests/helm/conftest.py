"""Chart-test fixtures: a Helm binary (deploy/helm/install-helm.sh builds it once), renderers."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "taskfactory"
EXAMPLES = sorted((CHART / "examples").glob("*.yaml"))
INSTALL_HELM = ROOT / "deploy" / "helm" / "install-helm.sh"
RELEASE = "tf"
NAMESPACE = "payments"


@dataclass(frozen=True)
class Rendered:
    """The objects `helm template` produced, with lookups an assertion needs."""

    docs: list[dict[str, Any]]

    def kinds(self) -> list[str]:
        return sorted(d["kind"] for d in self.docs)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, got {[*self.names(kind)]}"
        return found[0]

    def names(self, kind: str) -> list[str]:
        return sorted(d["metadata"]["name"] for d in self.of_kind(kind))

    def pod_specs(self) -> list[tuple[str, dict[str, Any]]]:
        """(object name, pod spec) of every Deployment and Job."""
        return [
            (d["metadata"]["name"], d["spec"]["template"]["spec"])
            for d in self.docs
            if d["kind"] in ("Deployment", "Job")
        ]


@pytest.fixture(scope="session")
def helm() -> str:
    """Path of a helm binary: .stack/bin/helm, built from its Go module on first use."""
    out = subprocess.run(
        ["bash", str(INSTALL_HELM)], capture_output=True, text=True, check=False, timeout=1500
    )
    assert out.returncode == 0, f"deploy/helm/install-helm.sh failed:\n{out.stderr}"
    return out.stdout.strip().splitlines()[-1]


def _set_args(values: dict[str, str] | None) -> list[str]:
    return [arg for k, v in (values or {}).items() for arg in ("--set", f"{k}={v}")]


@pytest.fixture(scope="session")
def run_template(helm: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`helm template` with values files, --set pairs and an optional inline values document."""

    def run(
        files: Iterable[Path] = (),
        sets: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        tmp: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        args = [helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE]
        for f in files:
            args += ["-f", str(f)]
        if values is not None:
            assert tmp is not None, "inline values need a tmp folder"
            path = tmp / "values.yaml"
            path.write_text(yaml.safe_dump(values), encoding="utf-8")
            args += ["-f", str(path)]
        args += _set_args(sets)
        return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)

    return run


@pytest.fixture(scope="session")
def render(
    run_template: Callable[..., subprocess.CompletedProcess[str]],
) -> Callable[..., Rendered]:
    """Render the chart and parse every object; fails the test with helm's message on error."""
    cache: dict[str, Rendered] = {}

    def _render(
        files: Iterable[Path] = (),
        sets: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        tmp: Path | None = None,
    ) -> Rendered:
        files = list(files)
        key = repr((files, sorted((sets or {}).items()), values))
        if key not in cache:
            out = run_template(files, sets, values, tmp)
            assert out.returncode == 0, f"helm template failed:\n{out.stderr}"
            docs = [d for d in yaml.safe_load_all(out.stdout) if d]
            cache[key] = Rendered(docs)
        return cache[key]

    return _render
