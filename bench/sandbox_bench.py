"""Worker CPU of a one-task run's workflow code, with and without the SDK's workflow sandbox.

Replays the recorded history of a one-task fast-path run (``tests/replay/histories/
fast-one-task.json``) ``--runs`` times as that many distinct workflows through the SDK's
``Replayer`` with the orchestrator's workflows, once per runner, alternated for ``--repeat``
rounds, and reports the process CPU per run: what the orchestrator spends on each new run's
workflow code (activations, payload conversion, the sandbox's per-run import), without a
server. Needs no stack. Writes ``bench/results/sandbox.json`` and the sandbox table of
``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import report
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, WorkflowRunner

from taskfactory_orchestrator.worker import NO_SANDBOX, SANDBOX, WORKFLOWS

HISTORY = report.ROOT / "tests" / "replay" / "histories" / "fast-one-task.json"
RUNNERS: dict[str, WorkflowRunner] = {"strict": SANDBOX, "off": NO_SANDBOX}


async def cpu_ms_per_run(runner: WorkflowRunner, runs: int) -> float:
    """Process CPU (ms) per replayed run of the one-task history."""
    recorded = WorkflowHistory.from_json("one-task", HISTORY.read_text())
    replayer = Replayer(
        workflows=WORKFLOWS, workflow_runner=runner, data_converter=pydantic_data_converter
    )

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for i in range(runs):
            yield WorkflowHistory(f"bench-{i}", recorded.events)

    t0 = time.process_time()
    async with replayer.workflow_replay_iterator(histories()) as results:
        async for result in results:
            if result.replay_failure is not None:
                raise SystemExit(f"replay failed: {result.replay_failure}")
    return (time.process_time() - t0) * 1000 / runs


def _table(result: dict[str, Any]) -> str:
    ms = result["cpu_ms_per_run"]
    lines = [
        report.heading(result),
        "",
        "| workflow runner | worker CPU per one-task run, median | min to max |",
        "|---|---:|---:|",
    ]
    for name, values in ms.items():
        lines.append(
            f"| `TASKFACTORY_ORCHESTRATOR__SANDBOX={name}` | {statistics.median(values):.1f} ms | "
            f"{min(values):.1f} to {max(values):.1f} ms |"
        )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="runs replayed per measurement")
    parser.add_argument("--repeat", type=int, default=5, help="rounds, runners alternated")
    parser.add_argument("--out", type=Path, default=report.RESULTS / "sandbox.json")
    parser.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")
    args = parser.parse_args()
    started, load_before = datetime.now(UTC), report.load()
    await cpu_ms_per_run(NO_SANDBOX, 20)  # warm: imports, the first sandbox
    await cpu_ms_per_run(SANDBOX, 20)
    ms: dict[str, list[float]] = {name: [] for name in RUNNERS}
    for _ in range(args.repeat):
        for name, runner in RUNNERS.items():
            ms[name].append(await cpu_ms_per_run(runner, args.runs))
    figures = {"runs": args.runs, "repeat": args.repeat, "cpu_ms_per_run": ms}
    report.record("sandbox", figures, _table, started, load_before, args)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
