"""``sleep``: waits a while, heartbeating its progress; a retry resumes from the checkpoint."""

from __future__ import annotations

import asyncio
import time

from pydantic import BaseModel, ConfigDict, Field

from taskfactory_executor.registry import TaskContext

__all__ = ["SleepOutput", "SleepParams", "sleep"]


class SleepParams(BaseModel):
    """How long to sleep, and how often to record progress."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(ge=0, le=7 * 24 * 3600)
    checkpoint_every: float = Field(default=1.0, gt=0)


class SleepOutput(BaseModel):
    """What the sleep did: total seconds, where this attempt started, which attempt."""

    slept_seconds: float
    resumed_from: float
    attempt: int


async def sleep(params: SleepParams, context: TaskContext) -> SleepOutput:
    """Sleep ``seconds`` in total over all attempts, heartbeating ``{"elapsed": s}``."""
    checkpoint = context.checkpoint
    resumed = float(checkpoint.get("elapsed", 0.0)) if isinstance(checkpoint, dict) else 0.0
    resumed = min(resumed, params.seconds)
    elapsed = resumed
    while elapsed < params.seconds:
        step = min(params.checkpoint_every, params.seconds - elapsed)
        began = time.monotonic()
        await asyncio.sleep(step)
        elapsed += time.monotonic() - began
        context.heartbeat({"elapsed": min(elapsed, params.seconds)})
    return SleepOutput(slept_seconds=params.seconds, resumed_from=resumed, attempt=context.attempt)
