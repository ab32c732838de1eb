"""Temporal's payload limit surfaces as a permanent RPC error the ingress dead-letters."""

from __future__ import annotations

import pytest
from conftest import StackInfo
from temporalio.service import RPCError, RPCStatusCode

from taskfactory_runtime.settings import TemporalSettings
from taskfactory_runtime.temporal import connect_temporal

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_a_start_over_the_blob_size_limit_is_invalid_argument(
    stack: StackInfo, uid: str
) -> None:
    """The ingress treats INVALID_ARGUMENT as permanent (dead letter), so this is its contract."""
    client = await connect_temporal(TemporalSettings(address=stack.temporal_address))
    with pytest.raises(RPCError) as refused:
        await client.start_workflow(
            "security-test-never-runs",
            "x" * (2 * 1024 * 1024 + 1024),
            id=f"{uid}/too-large",
            task_queue=f"{uid}-nobody",
        )
    assert refused.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert "size" in refused.value.message.lower()
