"""Task types of a plugin package: async, sync (blocking) and cpu-bound, with pydantic models.

It depends on nothing but pydantic; ``cpu_bound`` marks by attribute, exactly as the
executor's ``taskfactory_executor.registry.cpu_bound`` decorator does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import BaseModel

__all__ = ["AddInput", "AddOutput", "FibInput", "WaitInput", "add", "fib", "wait_for_file"]


class AddInput(BaseModel):
    """Two numbers."""

    a: int
    b: int


class AddOutput(BaseModel):
    """Their sum."""

    sum: int


async def add(params: AddInput) -> AddOutput:
    """An async task type."""
    return AddOutput(sum=params.a + params.b)


class WaitInput(BaseModel):
    """A file whose appearance ends the wait."""

    path: str
    limit_seconds: float = 60.0


def wait_for_file(params: WaitInput) -> dict[str, object]:
    """A sync task type that blocks its thread (time.sleep) until ``path`` exists."""
    deadline = time.monotonic() + params.limit_seconds
    while not Path(params.path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{params.path} did not appear within {params.limit_seconds}s")
        time.sleep(0.05)
    return {"seen": params.path}


class FibInput(BaseModel):
    """Which Fibonacci number."""

    n: int


def fib(params: FibInput) -> dict[str, int]:
    """A cpu-bound task type (runs in the process pool): the n-th Fibonacci number, and its pid."""
    a, b = 0, 1
    for _ in range(params.n):
        a, b = b, a + b
    return {"value": a, "pid": os.getpid()}


fib.__taskfactory_kind__ = "cpu-bound"  # type: ignore[attr-defined]
