"""Definition checks and explains off the event loop, bounded in number and in time.

A posted definition or event is outside input: loading or evaluating it must never stall
the orchestrator's loop (its worker, the schedules sync and every other request share it).
Each check runs in a small thread pool; a check that outlives its time limit is answered
503 while its thread finishes on its own, and keeps its slot until it does, so a flood of
slow checks cannot pile up threads: with every slot taken the next request gets 503 at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from taskfactory_orchestrator.admin.errors import Busy
from taskfactory_runtime.logging import get_logger

__all__ = ["CheckRunner"]

T = TypeVar("T")

log = get_logger(__name__)


class CheckRunner:
    """Runs CPU-bound checks in at most ``slots`` threads, each answered within ``timeout``."""

    def __init__(self, *, slots: int, timeout: float) -> None:
        self.slots = slots
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="admin-check")
        self._busy = 0
        self._lock = threading.Lock()

    def _release(self, _: object) -> None:
        with self._lock:
            self._busy -= 1

    async def run(self, what: str, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in a worker thread; :class:`Busy` when the slots are full or it is slow."""
        with self._lock:
            if self._busy >= self.slots:
                raise Busy(f"{self.slots} checks are already running; try again shortly")
            self._busy += 1
        try:
            future = self._pool.submit(fn, *args)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except TimeoutError:
            log.warning("admin check over its time limit", what=what, seconds=self.timeout)
            raise Busy(
                f"{what} took longer than {self.timeout:g}s and was abandoned "
                "(a definition this costly to load would stall the services too)"
            ) from None

    def close(self) -> None:
        """Stop taking checks; running ones finish in their threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
