"""Wait for a condition with a deadline, or hold a fault while checking an invariant."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["hold_for", "wait_for"]


async def wait_for(
    condition: Callable[[], Awaitable[bool]],
    *,
    timeout: float,  # noqa: ASYNC109 (a deadline that names what it waited for)
    what: str,
    interval: float = 0.2,
) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if await condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


async def hold_for(
    seconds: float, invariant: Callable[[], Awaitable[None]], *, interval: float = 1.0
) -> None:
    """Keep a fault in place for ``seconds``, checking ``invariant`` (which asserts) all along.

    This is the duration of a fault, not synchronisation: every tick verifies behaviour.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await invariant()
        await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
    await invariant()
