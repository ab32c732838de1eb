"""The built image run as the chart runs it: an event through its three containers, a result."""

from __future__ import annotations

import httpx
import pytest
from conftest import Topics
from support.container_services import ContainerServices

from taskfactory_contracts import AvroCodec, TaskStatus
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.running import RunningServices
from taskfactory_stack.services import SERVICES
from taskfactory_stack.traffic import consume, echo_definition, envelope, produce_envelopes
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.image, pytest.mark.timeout(300)]


async def test_an_event_through_the_containerised_services_becomes_one_result(
    containers: ContainerServices,
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    uid: str,
) -> None:
    (services.definitions / "image-smoke.yaml").write_text(echo_definition("image-smoke", uid))
    containers.start()

    for service in SERVICES:

        async def ready(service: str = service) -> bool:
            containers.check_running(service)
            try:
                return (await services.get(service, "/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(ready, timeout=120, what=f"{service}'s /readyz from its container")
        assert (await services.get(service, "/livez")).json() == {"status": "ok"}
        assert (await services.get(service, "/readyz")).json() == {"status": "ready"}

    event = envelope(0, uid=uid)
    await produce_envelopes(kafka_settings, topics.events, [event])

    records = await consume(kafka_settings, topics.results, at_least=1, timeout=120)
    assert len(records) == 1
    result = AvroCodec().decode_task_result(records[0].value)
    assert result.causation_id == event.id
    assert result.subject == event.subject
    assert result.status == TaskStatus.SUCCEEDED
    assert result.run_id.startswith(f"{uid}/")

    # It ran as the chart runs it: the chart's non-root uid, which is the image's own user too,
    # and nothing writable but /tmp.
    uid_gid = "{runAsUser}:{runAsGroup}".format(**containers.values["containerSecurityContext"])
    assert containers.image_user() == uid_gid
    for service in SERVICES:
        containers.check_running(service)
        assert containers.exec(service, "id", "-u").stdout.strip() == uid_gid.split(":")[0]
        denied = containers.exec(service, "touch", "/opt/taskfactory/written")
        assert denied.returncode != 0
        assert "Read-only file system" in denied.stderr
        assert containers.exec(service, "touch", "/tmp/written").returncode == 0
