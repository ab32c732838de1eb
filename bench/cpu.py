"""CPU time by role (which process of the system) over a measurement, read from ``/proc``.

A benchmark wraps its measured burst in ``Sampler().running()``; ``summary(runs)`` then says
which process sat at 100 % of a core and how many milliseconds of CPU each role spent per run.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["Sampler"]

TICK = os.sysconf("SC_CLK_TCK")


def _role(pid: int, cmdline: str) -> str | None:
    """Which part of the system process ``pid`` is (None: not ours)."""
    if pid == os.getpid():
        return "bench"
    for needle, role in (
        ("taskfactory_ingress", "ingress"),
        ("taskfactory_orchestrator", "orchestrator"),
        ("taskfactory_executor", "executor"),
        ("temporal-server", "temporal"),
        ("start-dev", "temporal"),
        ("--diy-worker", "diy-worker"),
        ("postgres", "postgresql"),
        ("jaeger", "jaeger"),
    ):
        if needle in cmdline:
            return role
    if "kafka.Kafka" in cmdline:
        return "kafka"  # every broker of the profile together
    return None


#: Roles that are processes this script starts (counted only when they descend from it, so
#: the services of anything else running on the machine are not taken for ours).
OWN = {"ingress", "orchestrator", "executor", "diy-worker"}


def _cpu_by_pid() -> dict[int, tuple[str, float]]:
    """Role and CPU seconds (user + system) of every process of ours now running."""
    seen: dict[int, tuple[int, str | None, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended while we looked
            continue
        pid = int(entry.name)
        seen[pid] = (
            int(fields[1]),
            _role(pid, cmdline),
            (int(fields[11]) + int(fields[12])) / TICK,
        )
    mine = {os.getpid()}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _, _) in seen.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                grew = True
    return {
        pid: (role, cpu)
        for pid, (_, role, cpu) in seen.items()
        if role is not None and (role not in OWN or pid in mine)
    }


class Sampler:
    """CPU use by role over a measurement: the total, and the busiest second of each process."""

    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self.peak: dict[str, float] = {}
        self.wall = 0.0
        self._task: asyncio.Task[None] | None = None
        self._before: dict[int, tuple[str, float]] = {}
        self._t0 = 0.0

    def _tick(self) -> None:
        now, t1 = _cpu_by_pid(), time.monotonic()
        for pid, (role, cpu) in now.items():
            used = cpu - self._before.get(pid, (role, 0.0))[1]
            self.total[role] = self.total.get(role, 0.0) + used
            # A process's share of one core in that interval: 1.0 is a core saturated (not
            # over a short last interval, where the clock tick's granularity would dominate).
            if t1 - self._t0 >= 0.5:
                self.peak[role] = max(self.peak.get(role, 0.0), used / (t1 - self._t0))
        self.wall += t1 - self._t0
        self._before, self._t0 = now, t1

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._tick()

    @contextmanager
    def running(self) -> Iterator[None]:
        self._before, self._t0 = _cpu_by_pid(), time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            yield
        finally:
            self._task.cancel()
            self._tick()  # the last, partial interval

    def summary(self, runs: int) -> dict[str, Any]:
        busy = {role: cpu / self.wall for role, cpu in self.total.items() if self.wall}
        return {
            "cores_busy": {k: round(v, 2) for k, v in sorted(busy.items(), key=lambda kv: -kv[1])},
            "peak_core_share": {k: round(v, 2) for k, v in sorted(self.peak.items())},
            "cpu_ms_per_run": round(1000 * sum(self.total.values()) / max(runs, 1), 1),
            "cpu_ms_per_run_by_role": {
                k: round(1000 * v / max(runs, 1), 1)
                for k, v in sorted(self.total.items(), key=lambda kv: -kv[1])
            },
        }
