"""Fixtures of the image smoke: a Docker engine, the built image, the services as containers.

The engine is ``DOCKER_HOST``'s, else this project's own (``deploy/image/dockerd.sh``), started
here and stopped at the end only if it was started here. The image is ``TASKFACTORY_IMAGE``
(default ``taskfactory:<the chart's appVersion>``), built by ``make image``; the containers run
as the chart runs the pods (see ``support.container_services``).

Tests marked ``image`` run only when asked for (``-m image`` or a path inside tests/image):
``make test`` leaves them to ``make image-smoke``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support.container_services import CHART, IMAGE_SCRIPTS, ContainerServices, Docker

from taskfactory_stack.running import RunningServices

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect ``image`` tests unless ``-m`` names them or tests/image was asked for."""
    asked = "image" in (config.option.markexpr or "") or any(
        p == HERE or HERE in p.parents
        for p in (Path(a.split("::")[0]).resolve() for a in config.args)
    )
    if asked:
        return
    deselected = [i for i in items if i.get_closest_marker("image")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [i for i in items if not i.get_closest_marker("image")]


@pytest.fixture(scope="session")
def docker() -> Iterator[Docker]:
    """A Docker engine that answers; ours is started (and stopped after) if none runs."""
    started = False
    if not os.environ.get("DOCKER_HOST"):
        out = subprocess.run(
            ["bash", str(IMAGE_SCRIPTS / "dockerd.sh"), "start"],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert out.returncode == 0, f"deploy/image/dockerd.sh start failed:\n{out.stderr}"
        started = out.stdout.startswith("started")
    try:
        yield Docker()
    finally:
        if started:
            subprocess.run(
                ["bash", str(IMAGE_SCRIPTS / "dockerd.sh"), "stop"], check=False, timeout=120
            )


@pytest.fixture(scope="session")
def image(docker: Docker) -> str:
    """The built image: ``TASKFACTORY_IMAGE``, default taskfactory:<appVersion>."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    ref = os.environ.get("TASKFACTORY_IMAGE") or f"taskfactory:{chart['appVersion']}"
    if docker("image", "inspect", ref, check=False).returncode != 0:
        pytest.fail(f"image {ref} is not built: run `make image` (or `make image-smoke`)")
    return ref


@pytest.fixture
def containers(
    docker: Docker, image: str, services: RunningServices, uid: str
) -> Iterator[ContainerServices]:
    """The three services as containers of the image; removed at the end, logs shown on failure."""
    running = ContainerServices(docker, image, services, uid)
    try:
        yield running
    finally:
        logs = {s: running.logs(s) for s in running.started}
        running.remove_all()
        for service, text in logs.items():
            print(f"==> {service} container log (last 40 lines) <==\n{text}")
