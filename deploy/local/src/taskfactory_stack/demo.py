"""``make run``: the whole system on its embedded defaults, showing events become results.

Besides the events of ``examples/events`` it plays the two worked examples end to end: their
plugin packages are installed into ``<stack>/plugins`` (cached) for the executor, their
stand-in bank and status page (``examples/*/bank.py``, ``site.py``) run inside this process,
the loan requests are published and the one above the limit is approved with
``taskfactory runs approve`` as a person would, and the monitor's Temporal Schedule (created
by the orchestrator's schedules sync) is triggered three times.

The demo reads the services' own settings (``TASKFACTORY_TOPICS__*``, the task queues,
``TASKFACTORY_SCHEDULES__ID_PREFIX``) and passes them on, so it can run beside other work.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import signal
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from temporalio.client import (
    Client,
)

from taskfactory_contracts import (
    AvroCodec,
    Envelope,
)
from taskfactory_contracts.triggers import matches
from taskfactory_runtime.definitions import load_definitions
from taskfactory_runtime.kafka import ensure_topics
from taskfactory_runtime.settings import KafkaSettings, ServiceSettings
from taskfactory_runtime.temporal import connect_temporal
from taskfactory_runtime.trace import EVENT_ID_TAG
from taskfactory_stack.demo_results import (
    SCREEN,
    Progress,
    Watch,
    assign_at_end,
    drain,
    poll,
    run_closed,
    say,
)
from taskfactory_stack.demo_steps import FIRINGS, Firing, approve, fire, loan_lines, monitor_lines
from taskfactory_stack.errors import StackError
from taskfactory_stack.examples import (
    EXAMPLES,
    LOAN,
    MONITORING,
    PLUGINS,
    front_matter,
    load_example,
    load_example_events,
    render_definitions,
    runs_unattended,
    serve,
)
from taskfactory_stack.jaeger import BackgroundJaeger, JaegerComponent
from taskfactory_stack.plugins import install_plugins
from taskfactory_stack.screen import ScreenHandler
from taskfactory_stack.services import LOOPBACK_EGRESS_ENV, ServiceEnv, ServiceSet
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.stack import Stack

__all__ = ["run"]


# ---- the whole demo ---------------------------------------------------------------------------
async def _demo(
    settings: StackSettings, stack: Stack, services: ServiceSet, stop: asyncio.Event
) -> None:
    service = ServiceSettings()  # the topics and task queues the services will read
    topics = service.topics
    kafka = KafkaSettings(bootstrap_servers=stack.kafka_bootstrap)
    temporal = service.temporal.model_copy(update={"address": stack.temporal_address})
    nonce = datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)

    plugins = settings.root / "plugins"
    fresh = await asyncio.to_thread(install_plugins, plugins)
    say(
        f"plugins: {', '.join(str(p.parent.name) for p in PLUGINS)} example task types "
        f"{'installed into' if fresh else 'cached in'} {plugins}"
    )
    bank = load_example(LOAN / "bank.py").Bank()
    page = load_example(MONITORING / "site.py").StatusPage()
    async with AsyncExitStack() as servers:
        bank_url = f"http://127.0.0.1:{await servers.enter_async_context(serve(bank.app()))}"
        site_port = await servers.enter_async_context(serve(page.app()))
        site_url = f"http://127.0.0.1:{site_port}/status"
        say(f"stand-ins: bank {bank_url} ({LOAN}/bank.py), site {site_url} ({MONITORING}/site.py)")
        folder = settings.demo_root / "definitions"
        definitions = render_definitions(folder, bank_url=bank_url, site_url=site_url)
        say(f"definitions: {', '.join(d.id for d in definitions)} (rendered into {folder})")

        # The plugin-free loan sketch of examples/definitions is not running: its event stays out.
        replaced = [d for d in load_definitions(EXAMPLES / "definitions") if d not in definitions]
        events = []
        for event in load_example_events(EXAMPLES / "events", nonce=nonce):
            sketch = next((d.id for d in replaced if matches(d, event)[0]), None)
            if sketch is not None:
                say(f"  {event.id}: not sent — the worked example replaces the {sketch} sketch")
                continue
            events.append(event)
        loans = load_example_events(LOAN / "events", nonce=nonce, unique_subjects=True)
        awaited = {e.id for e in events if runs_unattended(e, definitions) is None}
        for event in events:
            why = runs_unattended(event, definitions)
            if why is not None:
                say(f"  {event.id}: no result expected here — {why}")
        awaited |= {e.id for e in loans}
        limit = front_matter(LOAN / "definitions" / "loan-approval.md")[0]["context"]["policy"]
        referred = [
            e for e in loans if json.loads(e.data)["amount"] >= limit["value"]["auto_limit"]
        ]

        await ensure_topics(
            kafka,
            [topics.events, topics.results, topics.runs, topics.dead_letter],
            partitions=6,
            replication_factor=stack.replication_factor,
        )
        client = await connect_temporal(temporal)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False
        )
        await consumer.start()
        try:
            tps = await assign_at_end(consumer, topics.results)
            env = {
                # The services' own topic, queue and group settings (if set) pass through.
                **ServiceEnv(
                    stack.kafka_bootstrap,
                    stack.temporal_address,
                    folder,
                    otlp_endpoint=stack.otlp_endpoint,
                    # Confluent-framed events (confluent-kafka's AvroSerializer) are read too.
                    schema_registry_url=stack.schema_registry_url,
                ).env(),
                "TASKFACTORY_HTTP__PORT": "0",
                # The example's bank and site stand-ins listen on 127.0.0.1.
                **LOOPBACK_EGRESS_ENV,
                # The demo waits for the monitor's schedule: a sync that failed at start (a
                # busy Temporal) is repeated within seconds rather than the default minutes.
                "TASKFACTORY_SCHEDULES__SYNC_INTERVAL_SECONDS": os.environ.get(
                    "TASKFACTORY_SCHEDULES__SYNC_INTERVAL_SECONDS", "10"
                ),
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(plugins), os.environ.get("PYTHONPATH")) if p
                ),
            }
            services.start(env, cwd=Path.cwd())
            say(
                "services: orchestrator, executor, ingress started "
                f"(logs in {settings.demo_root / 'logs'})"
            )
            codec = AvroCodec()
            await _publish(stack, topics.events, [*events, *loans], codec)
            say(
                f"published {len(events)} example events and {len(loans)} loan requests "
                f"to {topics.events}"
            )
            monitor_id = "site-monitor"
            schedule_id = os.environ.get("TASKFACTORY_SCHEDULES__ID_PREFIX", "taskfactory-")
            schedule_id += monitor_id
            watch = Watch(tracked={e.id for e in [*events, *loans]}, monitor_id=monitor_id)
            steps = asyncio.gather(
                *(approve(client, _loan_run(e), env) for e in referred),
                fire(client, schedule_id, page, site_url),
            )
            firings = await _watch(
                client,
                temporal.orchestrator_task_queue,
                services,
                consumer,
                codec,
                watch,
                awaited,
                steps,
                stop,
            )
            if firings is None:
                return
            await drain(consumer, tps, codec, watch)
            SCREEN.end_status()
            say()
            for line in [
                *loan_lines(loans, watch, bank),
                *monitor_lines(firings, watch, schedule_id),
            ]:
                say(line)
            _finale(settings, stack, watch, topics.events, len(awaited))
            if not settings.demo_exit_when_done:
                await _keep_running(services, consumer, codec, watch, stop)
        finally:
            await consumer.stop()


def _loan_run(loan: Envelope) -> str:
    return f"loan-approval/{loan.subject}"


async def _publish(stack: Stack, topic: str, events: list[Envelope], codec: AvroCodec) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for envelope in events:
            await producer.send_and_wait(
                topic, codec.encode_envelope(envelope), key=envelope.subject.encode()
            )
    finally:
        await producer.stop()


async def _watch(
    client: Client,
    queue: str,
    services: ServiceSet,
    consumer: AIOKafkaConsumer,
    codec: AvroCodec,
    watch: Watch,
    awaited: set[str],
    steps: asyncio.Future[list[Any]],
    stop: asyncio.Event,
) -> list[Firing] | None:
    """Print results until every awaited event is done and the steps ran; the firings."""
    since = datetime.now(UTC).replace(microsecond=0)
    mine = f"TaskQueue = '{queue}' AND StartTime >= '{since.isoformat()}'"
    progress = Progress(watch, awaited)
    try:
        while not stop.is_set() and not SCREEN.gone():
            services.check()
            await poll(consumer, codec, watch)
            progress.started = int((await client.count_workflows(mine)).count)
            for run_ids in watch.runs_of.values():
                for run_id in run_ids - watch.closed:
                    if await run_closed(client, run_id):
                        watch.closed.add(run_id)
            SCREEN.status(progress.line())
            if steps.done():
                outcome = steps.result()  # raises what a step raised
                if all(watch.done(e) for e in awaited):
                    firings: list[Firing] = outcome[-1]
                    return firings
        return None
    finally:
        if not steps.done():
            steps.cancel()
            await asyncio.gather(steps, return_exceptions=True)


def _traces_line(stack: Stack) -> str:
    """Where a person looks at an event's trace: Zipkin's UI, else the terminal command."""
    if stack.trace_ui:
        search = f"{stack.trace_ui}?annotationQuery={quote(EVENT_ID_TAG)}%3DEVENT_ID&lookback=1h"
        return f"Traces:      {search} (or: uv run taskfactory trace EVENT_ID)\n"
    if stack.jaeger_ui:
        return "Traces:      uv run taskfactory trace EVENT_ID (Jaeger's API)\n"
    return ""


def _finale(settings: StackSettings, stack: Stack, watch: Watch, topic: str, events: int) -> None:
    first = watch.first or 0.0
    say(
        f"\nall {events} events and {len(FIRINGS)} firings done; first result after {first:.1f}s, "
        f"all after {time.monotonic() - watch.t0:.1f}s.\n"
        f"Temporal UI: http://127.0.0.1:{settings.temporal_ui_port}/namespaces/default/workflows\n"
        + _traces_line(stack)
        + f"Still running: publish more events to {topic} on {stack.kafka_bootstrap}; "
        "Ctrl-C stops everything."
    )


async def _keep_running(
    services: ServiceSet,
    consumer: AIOKafkaConsumer,
    codec: AvroCodec,
    watch: Watch,
    stop: asyncio.Event,
) -> None:
    while not stop.is_set() and not SCREEN.gone():
        services.check()
        await poll(consumer, codec, watch)


def run(settings: StackSettings) -> int:
    """Up the stack if needed, run the services and the examples, clean up on Ctrl-C.

    Whatever happens (an error, Ctrl-C, a closed stdout), everything this run started is
    stopped: the services, a Jaeger build still under way, and the stack's components when
    this run started them; a stack that was up before is left running.
    """
    logging.getLogger().addHandler(ScreenHandler(SCREEN))
    stack = Stack(settings)
    services = ServiceSet(settings.demo_root)
    services.stop()  # leftovers of a demo that was killed
    jaeger = next((c for c in stack.components if isinstance(c, JaegerComponent)), None)
    background = BackgroundJaeger(jaeger, settings.demo_root) if jaeger else None
    if background is not None:
        background.stop()  # the same: a build a killed demo left behind
    later = background is not None and background.needed()
    say("stack: bringing up Kafka and Temporal (cached after the first time) …")
    started = stack.up(skip=("jaeger",) if later else ())
    for row in stack.status():
        if not (later and row.name == "jaeger"):
            say(f"  {row.name:<9} {row.address:<16} {row.health}  {row.extra}")
    if background is not None and later:
        background.start()
        say(
            "  jaeger    not built yet: building it from its Go module in the background "
            "(once; about 8 minutes on two cores). The examples run meanwhile; traces reach "
            f"Jaeger once it is up (log: {background.process.log_file})"
        )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        announce = asyncio.create_task(_announce_jaeger(background if later else None, stack))
        try:
            await _demo(settings, stack, services, stop)
        finally:
            announce.cancel()

    code = 0
    try:
        asyncio.run(main())
    except StackError as exc:
        say(f"\nerror: {exc}")
        code = 1
    finally:
        SCREEN.end_status()
        say("\nstopping services …")
        services.stop()
        ours = list(started)
        if background is not None and later:
            if background.stop():
                say("stopped the Jaeger build (it starts again with the next `make run`)")
            if "jaeger" not in ours and jaeger is not None and jaeger.process.pid() is not None:
                ours.append("jaeger")
        if ours:
            say(f"stopping {', '.join(ours)} (this run started them) …")
            stack.down(only=ours)
        else:
            say("leaving the stack running (it was up before `make run`)")
    return code


async def _announce_jaeger(background: BackgroundJaeger | None, stack: Stack) -> None:
    """Say once when the background Jaeger is up (tracing attached) or could not be built."""
    if background is None:
        return
    while True:  # another process's state: polled, nothing to await
        state = await asyncio.to_thread(background.state)
        if state != "building":
            break
        await asyncio.sleep(2.0)
    if state == "up":
        say(f"  jaeger: built and up, tracing attached: {stack.jaeger_ui}")
    else:
        say(
            "  jaeger: the background build failed; the demo runs without traces "
            f"(see {background.process.log_file})"
        )
