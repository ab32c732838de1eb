"""The faults ``make chaos`` runs on a private Kafka and Temporal (the chaos tests run them with
fewer events): each injects one fault into a running world and returns when it cleared."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from taskfactory_stack.chaos.target import Outcome, Target
from taskfactory_stack.chaos.world import World, run_scenario, sleepy_definition
from taskfactory_stack.traffic import (
    ACCEPT_WRITES,
    REJECT_WRITES,
    end_offsets_total,
    set_topic_config,
)
from taskfactory_stack.waiting import hold_for, wait_for

__all__ = [
    "FAULTS",
    "executor_sigkill",
    "ingress_sigkill",
    "kafka_restart",
    "orchestrator_restart",
    "rebalance_storm",
    "results_unavailable",
    "temporal_outage",
    "until_cleared",
]


async def ingress_sigkill(target: Target, events: int, *, kills: int = 3) -> Outcome:
    """SIGKILL the ingress ``kills`` times while events stream in, restarting it each time."""

    async def body(world: World, outcome: Outcome) -> float:
        for k in range(1, kills + 1):
            at = events * k // (kills + 1)
            await world.reach(at, "commits", before=f"kill {k}")
            outcome.fault_seconds += await world.kill_and_restart("ingress")
        outcome.fault_seconds = round(outcome.fault_seconds, 1)
        return time.monotonic()

    return await run_scenario(target, "ingress-sigkill", events, body)


async def temporal_outage(target: Target, events: int, *, seconds: float) -> Outcome:
    """Stop Temporal for ``seconds`` mid-stream: the ingress pauses, is unready, commits
    nothing past an unstarted event; after the restart everything runs, once."""
    temporal = target.temporal_component
    assert temporal is not None, "temporal_outage needs a private Temporal server"

    async def body(world: World, outcome: Outcome) -> float:
        await world.reach(events // 3, "commits", before="the outage")
        await asyncio.to_thread(temporal.down)
        try:
            began = time.monotonic()

            async def not_ready() -> bool:
                response = await world.services.get("ingress", "/readyz")
                return response.status_code == 503 and "temporal" in response.json()["checks"]

            await wait_for(not_ready, timeout=30, what="the ingress to turn unready")
            assert await world.services.metric("ingress", "taskfactory_ingress_paused") == 1
            frozen = await world.committed()
            consumed = await world.services.metric("ingress", "taskfactory_ingress_consumed_total")

            async def lag_shown() -> bool:
                # The broker's end offsets minus the group's commits, kept fresh although
                # nothing is fetched: what an SRE's lag alert watches during the outage.
                end = await end_offsets_total(world.kafka, world.events)
                lag = await world.services.metric("ingress", "taskfactory_ingress_consumer_lag")
                return lag > 0 and lag == end - (frozen or 0)

            await wait_for(lag_shown, timeout=20, what="the consumer-lag gauge to show the lag")

            async def nothing_moves() -> None:
                # Fetching is paused and no offset is committed past an unstarted event.
                assert await world.committed() == frozen, "a commit during the Temporal outage"
                assert (
                    await world.services.metric("ingress", "taskfactory_ingress_consumed_total")
                    == consumed
                ), "the ingress fetched during the Temporal outage"
                world.alive()

            await hold_for(seconds - (time.monotonic() - began), nothing_moves)
        finally:
            await asyncio.to_thread(temporal.up)  # cleared even when a check failed
        outcome.fault_seconds = round(time.monotonic() - began, 1)
        outcome.notes.append(f"{frozen} of {events} committed when Temporal went away")
        return time.monotonic()

    return await run_scenario(
        target,
        "temporal-outage",
        events,
        body,
        env={
            "TASKFACTORY_INGRESS__MAX_BUFFERED_PER_PARTITION": "20",
            "TASKFACTORY_INGRESS__RETRY_MAX_SECONDS": "2",
            "TASKFACTORY_INGRESS__LAG_REFRESH_SECONDS": "1",
        },
    )


async def kafka_restart(target: Target, events: int, *, seconds: float) -> Outcome:
    """Stop the broker mid-stream for ``seconds`` and start it again on the same data."""
    kafka = target.kafka_component
    assert kafka is not None, "kafka_restart needs a private broker"

    async def body(world: World, outcome: Outcome) -> float:
        await world.reach(events // 3, "results", before="the broker stops")
        async with world.upstream_paused():
            await asyncio.to_thread(kafka.down)
            try:
                began = time.monotonic()
                await hold_for(seconds, until_cleared(world.alive))
            finally:
                await asyncio.to_thread(kafka.up)  # cleared even when a check failed
            outcome.fault_seconds = round(time.monotonic() - began, 1)
        return time.monotonic()

    return await run_scenario(target, "kafka-restart", events, body)


async def rebalance_storm(target: Target, events: int) -> Outcome:
    """Ingress replicas join and leave while events stream in: 2 → 3 → 2 → 3 → 2."""

    async def body(world: World, outcome: Outcome) -> float:
        services = world.services
        second = services.add_ingress_replica("b")
        began = time.monotonic()
        steps: list[tuple[str, Callable[[], object]]] = [
            ("c joins", lambda: services.add_ingress_replica("c")),
            ("a leaves", services.set.processes["ingress"].stop),
            ("d joins", lambda: services.add_ingress_replica("d")),
            ("b leaves", second.stop),
        ]
        for k, (what, step) in enumerate(steps, start=1):
            at = events * k // (len(steps) + 1)
            await world.reach(at, "commits", before=f"'{what}'")
            if "leaves" in what:  # gracefully (SIGTERM: drain and commit)
                world.killed.add("ingress" if what.startswith("a") else "b-ingress")
            await asyncio.to_thread(step)
        outcome.fault_seconds = round(time.monotonic() - began, 1)
        return time.monotonic()

    return await run_scenario(target, "rebalance-storm", events, body)


async def _restart_mid_run(
    target: Target, fault: str, service: str, events: int, nap: float, *, at_result: bool = False
) -> Outcome:
    """SIGKILL ``service`` while runs wait for their heartbeating sleep tasks; start a new one.

    ``at_result``: the kill waits for the next result to land (see
    :meth:`World.kill_at_next_result`), so it strikes around a publish.
    """

    async def body(world: World, outcome: Outcome) -> float:
        await world.reach(events // 4, "results", before="the kill")
        outcome.in_flight = await world.open_runs()
        kill = world.kill_at_next_result if at_result else world.kill_and_restart
        outcome.fault_seconds = round(await kill(service), 1)
        return time.monotonic()

    return await run_scenario(
        target, fault, events, body, definition=lambda uid: sleepy_definition(uid, nap)
    )


async def executor_sigkill(target: Target, events: int, *, nap: float = 4.0) -> Outcome:
    """SIGKILL the executor while its heartbeating sleep tasks run; restart it at once."""
    outcome = await _restart_mid_run(target, "executor-sigkill", "executor", events, nap)
    outcome.notes.append(f"{outcome.retried_tasks} tasks resumed on another attempt")
    return outcome


async def orchestrator_restart(target: Target, events: int, *, nap: float = 3.0) -> Outcome:
    """SIGKILL the orchestrator while runs wait for their sleep tasks, the moment a result
    lands (so around its local-activity publish of results and run events); start a new one."""
    outcome = await _restart_mid_run(
        target, "orchestrator-restart", "orchestrator", events, nap, at_result=True
    )
    outcome.notes.append(
        f"{outcome.publish_checks_found} of {outcome.publish_checks} publishes after the "
        "restart found their record already sent"
    )
    return outcome


async def results_unavailable(target: Target, events: int, *, seconds: float) -> Outcome:
    """The results topic rejects every write for ``seconds`` mid-run; no result lands meanwhile,
    and afterwards each task has exactly one."""

    async def body(world: World, outcome: Outcome) -> float:
        await world.reach(events // 4, "results", before="the topic turns unavailable")
        await set_topic_config(world.kafka, world.results, REJECT_WRITES)
        try:
            began = time.monotonic()

            async def publish_failed() -> bool:
                # Runs publish their results themselves (the orchestrator's local activity).
                failures = "taskfactory_orchestrator_publish_failures_total"
                return await world.services.metric("orchestrator", failures) >= 1

            await wait_for(publish_failed, timeout=60, what="a result publish to be rejected")
            frozen = await world.result_records()

            async def nothing_lands() -> None:
                assert await world.result_records() == frozen, (
                    "a result landed on a rejecting topic"
                )
                world.alive()

            await hold_for(seconds - (time.monotonic() - began), nothing_lands)
        finally:
            await set_topic_config(world.kafka, world.results, ACCEPT_WRITES)
        outcome.fault_seconds = round(time.monotonic() - began, 1)
        return time.monotonic()

    return await run_scenario(
        target,
        "results-unavailable",
        events,
        body,
        env={"TASKFACTORY_EXECUTOR__PUBLISH_TIMEOUT_SECONDS": "2"},
    )


def until_cleared(check: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        check()

    return run


#: name → how ``make chaos`` runs it (events, fault length) against a fully private target.
FAULTS: dict[str, Callable[[Target, int], Awaitable[Outcome]]] = {
    "ingress-sigkill": lambda t, n: ingress_sigkill(t, n, kills=3),
    "temporal-outage": lambda t, n: temporal_outage(t, n, seconds=60),
    "kafka-restart": lambda t, n: kafka_restart(t, n, seconds=20),
    "rebalance-storm": rebalance_storm,
    "executor-sigkill": executor_sigkill,
    "results-unavailable": lambda t, n: results_unavailable(t, n, seconds=20),
    "orchestrator-restart": orchestrator_restart,
}

#: The faults only a cluster has, run by ``make chaos-cluster`` on the cluster profile.
