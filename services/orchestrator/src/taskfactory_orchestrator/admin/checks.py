"""Definition checks and explains off the event loop, bounded in number and in time.

A posted definition or event is outside input: loading or evaluating it must never stall
the orchestrator's loop (its worker, the schedules sync and every other request share it).
Each check runs in a thread of its own; a check that outlives its time limit is answered
503 while its thread finishes on its own, and keeps its slot until it does, so a flood of
slow checks cannot pile up threads: with every slot taken the next request gets 503 at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from taskfactory_orchestrator.errors import Busy
from taskfactory_runtime.logging import get_logger

__all__ = ["CheckRunner"]

T = TypeVar("T")

log = get_logger(__name__)


class CheckRunner:
    """Runs CPU-bound checks in at most ``slots`` threads, each answered within ``timeout``.

    The threads are daemons of their own (not a pool's, which the interpreter joins at exit):
    a check still running when the orchestrator stops never holds up its exit.
    """

    def __init__(self, *, slots: int, timeout: float) -> None:
        self.slots = slots
        self.timeout = timeout
        self._busy = 0
        self._lock = threading.Lock()

    async def run(self, what: str, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in a worker thread; :class:`Busy` when the slots are full or it is slow."""
        with self._lock:
            if self._busy >= self.slots:
                raise Busy(f"{self.slots} checks are already running; try again shortly")
            self._busy += 1
        future: Future[T] = Future()
        # Running from now on: an abandoned request's cancel cannot cancel the computation,
        # whose result then simply goes unread.
        future.set_running_or_notify_cancel()

        def work() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the waiting request, whatever it is
                future.set_exception(exc)
            finally:
                with self._lock:
                    self._busy -= 1

        threading.Thread(target=work, name="admin-check", daemon=True).start()
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except TimeoutError:
            log.warning("admin check over its time limit", what=what, seconds=self.timeout)
            raise Busy(
                f"{what} took longer than {self.timeout:g}s and was abandoned "
                "(a definition this costly to load would stall the services too)"
            ) from None
