"""``echo``: returns its params; the smallest task that proves the path end to end.

Three optional params make it a stand-in for a flaky or slow dependency in demos and tests:
``fail_until_attempt`` (attempts before it raise a retryable error), ``fail_message`` (a
non-retryable failure) and ``delay_seconds`` (wait first, heartbeating every second).
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.exceptions import ApplicationError

from taskfactory_executor.registry import TaskContext

__all__ = ["echo"]


async def echo(params: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    """Return ``params`` unchanged, as a JSON object."""
    delay = float(params.get("delay_seconds", 0))
    while delay > 0:
        await asyncio.sleep(min(delay, 1.0))
        delay -= 1.0
        context.heartbeat()
    if "fail_message" in params:
        raise ApplicationError(str(params["fail_message"]), type="EchoFailure", non_retryable=True)
    if context.attempt < int(params.get("fail_until_attempt", 0)):
        raise ApplicationError(
            f"echo told to fail before attempt {params['fail_until_attempt']} "
            f"(this is attempt {context.attempt})",
            type="EchoRetry",
        )
    return dict(params)
