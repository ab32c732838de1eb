"""Admin checks off the event loop: bounded in number and time, never blocking the loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from taskfactory_orchestrator.admin.checks import CheckRunner
from taskfactory_orchestrator.errors import Busy


async def test_a_slow_check_is_abandoned_and_keeps_its_slot_until_it_ends() -> None:
    runner = CheckRunner(slots=1, timeout=0.05)
    release = threading.Event()
    with pytest.raises(Busy, match=r"loading took longer than 0.05s"):
        await runner.run("loading", release.wait)
    # Its thread still runs: the only slot is taken, the next check is refused at once.
    with pytest.raises(Busy, match="1 checks are already running"):
        await runner.run("another", lambda: "never")
    release.set()

    async def slot_free() -> str:
        while True:
            try:
                return await runner.run("after", lambda: "ran")
            except Busy:
                await asyncio.sleep(0.01)  # the abandoned thread is finishing

    assert await asyncio.wait_for(slot_free(), 30) == "ran"


async def test_the_loop_keeps_running_while_a_check_computes() -> None:
    runner = CheckRunner(slots=2, timeout=30)
    started, release = threading.Event(), threading.Event()

    def check() -> str:
        started.set()
        release.wait()
        return "done"

    pending = asyncio.create_task(runner.run("checking", check))
    await asyncio.to_thread(started.wait)
    ticks = 0
    while ticks < 3:  # the loop still runs other work
        await asyncio.sleep(0)
        ticks += 1
    assert not pending.done()
    release.set()
    assert await pending == "done"


async def test_a_check_that_raises_hands_its_error_to_the_request() -> None:
    runner = CheckRunner(slots=1, timeout=30)

    def broken() -> None:
        raise ValueError("bad definition")

    with pytest.raises(ValueError, match="bad definition"):
        await runner.run("checking", broken)
    assert await runner.run("checking", lambda: 1) == 1, "the slot was given back"
