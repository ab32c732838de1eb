"""Whether the ingress's dependencies answer: reported by the handler, read by the rest.

The handler reports each dependency (Temporal, the schema registry) ``down`` with a reason
when a call to it fails for a transient reason and ``up`` when one succeeds again. The
consumer subscribes to pause fetching while any dependency is down; ``/readyz`` reads
:meth:`Availability.reason` for each one, under its own name. Nothing here does I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Final

from taskfactory_runtime.logging import get_logger

__all__ = ["DEPENDENCIES", "SCHEMA_REGISTRY", "TEMPORAL", "Availability"]

log = get_logger(__name__)

TEMPORAL: Final = "temporal"
SCHEMA_REGISTRY: Final = "schema-registry"
#: The dependencies the ingress waits out rather than dead-letters for (readiness check names).
DEPENDENCIES: Final = (TEMPORAL, SCHEMA_REGISTRY)

#: Called with ``True`` when every dependency is up again, ``False`` when the first goes down.
Subscriber = Callable[[bool], None]


class Availability:
    """Each dependency up, or down with a reason; subscribers hear when *all up* changes."""

    def __init__(self, dependencies: Iterable[str] = DEPENDENCIES) -> None:
        self._down: dict[str, str] = {}
        self._known = frozenset(dependencies)
        self._subscribers: list[Subscriber] = []
        self._all_up = asyncio.Event()
        self._all_up.set()

    @property
    def all_up(self) -> bool:
        """True while no dependency is down."""
        return not self._down

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call ``subscriber(all_up)`` on every change of :attr:`all_up`."""
        self._subscribers.append(subscriber)

    def down(self, dependency: str, reason: str) -> None:
        """``dependency`` did not answer, for ``reason`` (the latest reason is kept)."""
        self._check(dependency)
        was_up = self.all_up
        if dependency not in self._down:
            log.warning("dependency unavailable, pausing", dependency=dependency, reason=reason)
        self._down[dependency] = reason
        if was_up:
            self._all_up.clear()
            self._notify(False)

    def up(self, dependency: str) -> None:
        """``dependency`` answered again."""
        self._check(dependency)
        if self._down.pop(dependency, None) is None:
            return
        log.info("dependency reachable again", dependency=dependency, resuming=self.all_up)
        if self.all_up:
            self._all_up.set()
            self._notify(True)

    def reason(self, dependency: str) -> str | None:
        """Why ``dependency`` is down, or ``None`` while it is up (a readiness check)."""
        self._check(dependency)
        reason = self._down.get(dependency)
        if reason is None:
            return None
        return f"{dependency.replace('-', ' ')} unavailable: {reason}"

    async def wait_up(self) -> None:
        """Return once every dependency is up (at once when they are)."""
        await self._all_up.wait()

    def _check(self, dependency: str) -> None:
        if dependency not in self._known:
            raise ValueError(f"unknown dependency {dependency!r}; known: {sorted(self._known)}")

    def _notify(self, all_up: bool) -> None:
        for subscriber in self._subscribers:
            subscriber(all_up)
