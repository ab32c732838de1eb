"""Record the histories that ``test_replay.py`` replays against today's code.

Runs real RunActivityWorkflow executions on the dev server (executor activities mocked by
name, as in the workflow tests) and writes each history as JSON next to this file. Re-record
only on purpose: a history recorded by older code is what guards today's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter

sys.path.insert(0, str(Path(__file__).parents[1]))
from orchestrator_testing import FakeExecutor, definition, fail, harness, trigger

from taskfactory_contracts import ActivityDefinition

HERE = Path(__file__).parent / "histories"


def _definition(boom: str) -> ActivityDefinition:
    return definition(
        {
            "max_parallel": 3,
            "context": {"shop": {"kind": "static", "value": {"currency": "EUR"}}},
            "tasks": [
                {"id": "reserve", "type": "echo", "compensate": {"type": "undo"}},
                {
                    "id": "charge",
                    "type": "echo",
                    "needs": ["reserve"],
                    "params": {"currency": "{{ context.shop.currency }}"},
                    "compensate": {"type": "undo", "params": {"was": "{{ output }}"}},
                },
                {"id": "skip-me", "type": "echo", "when": "event.data.n > 100"},
                {
                    "id": "notify",
                    "type": "echo",
                    "needs": ["charge"],
                    "for_each": "event.data.lines",
                    "params": {"line": "{{ item }}"},
                },
                {"id": "last", "type": boom, "needs": ["notify"]},
            ],
        }
    )


async def main() -> None:
    address = os.environ.get("TASKFACTORY_TEMPORAL_ADDRESS", "127.0.0.1:7233")
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    queue = "replay-" + uuid.uuid4().hex[:8]
    executor = FakeExecutor(behaviours={"boom": fail("CardDeclined")})
    data = {"n": 1, "lines": ["tea", "cup", "pot"]}
    async with harness(client, queue, executor) as h:
        for name, boom in [("dag-succeeded", "echo"), ("dag-compensated", "boom")]:
            handle = await h.start(_definition(boom), trigger(data, event_id=f"{queue}-{name}"))
            with contextlib.suppress(WorkflowFailureError):
                await handle.result()
            history = await handle.fetch_history()
            (HERE / f"{name}.json").write_text(history.to_json())
            print(f"recorded {name}: {len(history.events)} events")


if __name__ == "__main__":
    asyncio.run(main())
