"""The missed-schedule signal while the orchestrator cannot sync: the age keeps growing.

The orchestrator reaches the real Temporal through a proxy; once the schedule exists the
proxy is cut, every sync fails, and ``taskfactory_schedule_last_action_age_seconds`` must
still move on (the alert that watches it fires exactly when syncing is broken).
"""

from __future__ import annotations

import contextlib
import re

import httpx
import pytest
from support.tcp_proxy import TcpProxy
from temporalio.client import Client
from temporalio.service import RPCError

from taskfactory_stack.running import RunningServices
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

AGE = "taskfactory_schedule_last_action_age_seconds"


async def _age(services: RunningServices, schedule_id: str) -> float | None:
    text = (await services.get("orchestrator", "/metrics")).text
    found = re.search(rf'^{AGE}\{{schedule="{re.escape(schedule_id)}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else None


async def test_schedule_age_grows_while_temporal_refuses_the_sync(
    services: RunningServices, temporal_client: Client, uid: str
) -> None:
    definition_id = f"{uid}-nightly"
    schedule_id = f"{uid}-{definition_id}"
    (services.definitions / "nightly.yaml").write_text(
        f"""
id: {definition_id}
version: 1
trigger:
  schedule:
    cron: ["0 2 * * *"]
    timezone: UTC
correlation:
  workflow_id: "{uid}/{{definition}}/{{scheduled_for}}"
tasks:
  - id: build
    type: echo
""",
        encoding="utf-8",
    )
    async with TcpProxy.running(services.env["TASKFACTORY_TEMPORAL__ADDRESS"]) as proxy:
        services.env.update(
            {
                "TASKFACTORY_TEMPORAL__ADDRESS": proxy.address,
                "TASKFACTORY_SCHEDULES__ID_PREFIX": f"{uid}-",
                "TASKFACTORY_SCHEDULES__OWNER": uid,
                "TASKFACTORY_SCHEDULES__SYNC_INTERVAL_SECONDS": "2",
            }
        )
        try:
            services.start(only=("orchestrator",))

            async def exported() -> bool:
                services.set.check()
                try:
                    return await _age(services, schedule_id) is not None
                except httpx.ConnectError:  # not listening yet
                    return False

            await wait_for(exported, timeout=90, what=f"{AGE} of {schedule_id}")

            await proxy.cut()  # from now on every sync fails
            at_cut = await _age(services, schedule_id)
            assert at_cut is not None

            async def sync_failing() -> bool:
                return "schedules sync failed" in services.logs()["orchestrator"]

            await wait_for(sync_failing, timeout=90, what="a failed sync")

            async def grown() -> bool:
                age = await _age(services, schedule_id)
                return age is not None and age >= at_cut + 30

            # The age moves on by the orchestrator's clock, not by a sync that never comes.
            await wait_for(grown, timeout=120, what=f"{AGE} growing while syncs fail")
            assert "schedules sync failed" in services.logs()["orchestrator"]
        finally:
            with contextlib.suppress(RPCError):  # absent if the orchestrator never synced
                await temporal_client.get_schedule_handle(schedule_id).delete()
