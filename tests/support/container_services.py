"""Helpers for the image smoke (tests/image): the Docker client, the chart's pod as ``docker run``.

The containers run as the chart's Deployments run the pods (deploy/helm/taskfactory/values.yaml):
its uid and gid, a read-only root filesystem, no capabilities, no privilege escalation, a
size-limited writable ``/tmp``, the definitions folder mounted read-only at
``definitions.mountPath`` and ``taskfactory-<service>`` as the command. They share the host's
network, so they reach the local stack on 127.0.0.1; their HTTP endpoints listen on loopback
ports of their own: port 0, the one each reports in its log becomes ``services.ports``.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from taskfactory_stack.process import logged_port
from taskfactory_stack.running import RunningServices
from taskfactory_stack.services import SERVICES

__all__ = ["CHART", "IMAGE_SCRIPTS", "ContainerServices", "Docker", "chart_run_flags"]

ROOT = Path(__file__).resolve().parents[2]
IMAGE_SCRIPTS = ROOT / "deploy" / "image"
CHART = ROOT / "deploy" / "helm" / "taskfactory"


class Docker:
    """The Docker client on the engine ``deploy/image`` uses (``deploy/image/docker.sh``)."""

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker <args>``; with ``check``, fail with its stderr on a non-zero exit."""
        out = subprocess.run(
            ["bash", str(IMAGE_SCRIPTS / "docker.sh"), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if check and out.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {out.returncode}: {out.stderr}")
        return out


def _bytes(quantity: str) -> int:
    """A Kubernetes quantity such as 64Mi in bytes (binary suffixes, as the chart uses)."""
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi)?", quantity)
    assert match, f"tmpSizeLimit {quantity!r}: expected <n>, <n>Ki, <n>Mi or <n>Gi"
    unit = {None: 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}[match.group(2)]
    return int(match.group(1)) * unit


def chart_run_flags(values: dict[str, Any]) -> list[str]:
    """``docker run`` flags for the pod and container security the chart's values give."""
    pod, ctr = values["podSecurityContext"], values["containerSecurityContext"]
    assert ctr["runAsNonRoot"], "the chart runs as non-root"
    assert int(ctr["runAsUser"]) != 0, "the chart runs as non-root"
    flags = [
        "--user",
        f"{ctr['runAsUser']}:{ctr['runAsGroup']}",
        "--group-add",
        str(pod["fsGroup"]),
    ]
    if ctr["readOnlyRootFilesystem"]:
        flags.append("--read-only")
    if not ctr["allowPrivilegeEscalation"]:
        flags += ["--security-opt", "no-new-privileges"]
    assert not ctr["privileged"]
    flags += [f"--cap-drop={cap}" for cap in ctr["capabilities"]["drop"]]
    # seccomp RuntimeDefault is the engine's default profile, applied unless told otherwise.
    assert ctr["seccompProfile"]["type"] == "RuntimeDefault"
    # The chart's writable /tmp: an emptyDir of tmpSizeLimit.
    flags += ["--tmpfs", f"/tmp:rw,mode=1777,size={_bytes(values['tmpSizeLimit'])}"]
    return flags


class ContainerServices:
    """The three services of one test as containers of the image, on ``services``' settings."""

    def __init__(self, docker: Docker, image: str, services: RunningServices, uid: str) -> None:
        self.docker = docker
        self.image = image
        self.services = services
        self.values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
        self.names = {name: f"tf-image-smoke-{uid}-{name}" for name in SERVICES}
        self.started: list[str] = []

    def run_args(self, service: str) -> list[str]:
        """The ``docker run`` arguments of one service (the chart's pod, on the host network)."""
        mount = self.values["definitions"]["mountPath"]
        env = {
            **self.services.env,
            "TASKFACTORY_DEFINITIONS_DIR": mount,
            "TASKFACTORY_HTTP__HOST": "127.0.0.1",
            "TASKFACTORY_HTTP__PORT": "0",
        }
        return [
            "run",
            "--detach",
            "--name",
            self.names[service],
            "--label",
            "taskfactory.image-smoke=1",
            "--network",
            "host",
            *chart_run_flags(self.values),
            "--mount",
            f"type=bind,source={self.services.definitions},target={mount},readonly",
            *(arg for k, v in sorted(env.items()) for arg in ("--env", f"{k}={v}")),
            self.image,
            f"taskfactory-{service}",  # the Deployment's command
        ]

    def start(self) -> None:
        """Start the three containers (write definitions into ``services.definitions`` first)."""
        for service in SERVICES:
            self.docker(*self.run_args(service))
            self.started.append(service)
        for service in SERVICES:
            self.services.ports[service] = self.reported_port(service)

    def reported_port(self, service: str, timeout: float = 120) -> int:
        """The HTTP port a service's container logs once it listens (waits up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.docker("logs", self.names[service], check=False)
            port = logged_port(out.stdout + out.stderr)
            if port is not None:
                return port
            self.check_running(service)  # fails with its log if it exited
            if time.monotonic() > deadline:
                raise AssertionError(f"{service}'s container reported no HTTP port in {timeout}s")
            time.sleep(0.5)  # polling interval of the condition above

    def inspect(self, service: str) -> dict[str, Any]:
        """``docker inspect`` of one service's container."""
        out = self.docker("container", "inspect", self.names[service])
        doc: dict[str, Any] = json.loads(out.stdout)[0]
        return doc

    def image_user(self) -> str:
        """The image's own USER (what runs when no securityContext says otherwise)."""
        return self.docker(
            "image", "inspect", "--format", "{{.Config.User}}", self.image
        ).stdout.strip()

    def exec(self, service: str, *command: str) -> subprocess.CompletedProcess[str]:
        """Run a command inside a service's running container (as the container's user)."""
        return self.docker("exec", self.names[service], *command, check=False)

    def check_running(self, service: str) -> None:
        """Fail naming the service, with its last log lines, if its container exited."""
        state = self.inspect(service)["State"]
        if not state["Running"]:
            raise AssertionError(
                f"{service}'s container exited ({state['ExitCode']}):\n{self.logs(service)}"
            )

    def logs(self, service: str, lines: int = 40) -> str:
        """The last lines of a container's stdout and stderr."""
        out = self.docker("logs", "--tail", str(lines), self.names[service], check=False)
        return out.stdout + out.stderr

    def remove_all(self) -> None:
        """Stop (SIGTERM, the drain deadline, then SIGKILL) and remove every started container."""
        names = [self.names[s] for s in self.started]
        if names:
            self.docker("stop", "--time", "30", *names, check=False, timeout=120)
            self.docker("rm", "--force", *names, check=False)
