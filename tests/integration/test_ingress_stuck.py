"""A record that can be neither started nor dead-lettered: the partition says it is stuck
(``/readyz``, a metric, the offset) and never commits past it; once the dead-letter topic
takes records again, it moves on by itself. Real broker and Temporal."""

from __future__ import annotations

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from conftest import StackInfo
from support.ingress_harness import new_uid, running_ingress

from taskfactory_runtime.kafka import client_kwargs
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def _dead_letter_limit(kafka: KafkaSettings, topic: str, limit: int, *, create: bool) -> None:
    admin = AIOKafkaAdminClient(**client_kwargs(kafka))
    await admin.start()
    try:
        configs = {"max.message.bytes": str(limit)}
        if create:
            await admin.create_topics([NewTopic(topic, 1, 1, topic_configs=configs)])
        else:
            await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)]
            )
    finally:
        await admin.close()


async def test_a_dead_letter_topic_refusing_everything_makes_the_partition_say_it_is_stuck(
    stack: StackInfo, tmp_path_factory: pytest.TempPathFactory
) -> None:
    uid = new_uid()
    kafka = KafkaSettings(bootstrap_servers=stack.kafka_bootstrap)
    # A dead-letter topic that refuses any record (and so any stub): 64 bytes at most.
    await _dead_letter_limit(kafka, f"{uid}.events.dlq", 64, create=True)
    folder = tmp_path_factory.mktemp("stuck")
    async with running_ingress(
        stack.kafka_bootstrap,
        stack.temporal_address,
        folder,
        uid=uid,
        retry_initial_seconds=0.1,
        retry_max_seconds=0.5,
    ) as ingress:
        await ingress.send(b"k", b"not a record", [])
        offset = await ingress.send(b"k", b"not a record either", [])
        ready = f"http://127.0.0.1:{ingress.port}/readyz"

        async def says_stuck() -> bool:
            async with httpx.AsyncClient(timeout=5) as http:
                response = await http.get(ready)
            return response.status_code == 503 and "stuck at offset 0" in response.text

        await wait_for(says_stuck, timeout=60, what="/readyz to name the stuck offset")
        metrics = await _metrics(ingress.port)
        assert (
            f'taskfactory_ingress_partition_stuck{{partition="{ingress.topic}/0"}} 1.0' in metrics
        )
        assert await ingress.committed() <= 0, "nothing committed past the stuck record"

        await _dead_letter_limit(kafka, ingress.dead_letter, 1_048_588, create=False)

        async def moved_on() -> bool:
            return await ingress.committed() == offset + 1

        await wait_for(moved_on, timeout=60, what="the commit to pass both records")
        async with httpx.AsyncClient(timeout=5) as http:
            assert "stuck" not in (await http.get(ready)).text
        assert len({(await ingress.dead_letter_at(o)).offset for o in (0, offset)}) == 2


async def _metrics(port: int) -> str:
    async with httpx.AsyncClient(timeout=5) as http:
        return (await http.get(f"http://127.0.0.1:{port}/metrics")).text
