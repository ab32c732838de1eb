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
import hashlib
import importlib.util
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    WorkflowExecutionStatus,
)
from temporalio.service import RPCError, RPCStatusCode

from taskfactory_contracts import (
    ActivityDefinition,
    AvroCodec,
    Envelope,
    RunStatusView,
    TaskPhase,
    TaskResult,
    names,
)
from taskfactory_contracts.definition import APPROVAL_TASK_TYPE
from taskfactory_contracts.triggers import matches
from taskfactory_runtime.definitions import check_paths, load_definitions
from taskfactory_runtime.kafka import ensure_topics
from taskfactory_runtime.settings import KafkaSettings, ServiceSettings
from taskfactory_runtime.temporal import connect_temporal
from taskfactory_stack.jaeger import BackgroundJaeger, JaegerComponent
from taskfactory_stack.process import StackError
from taskfactory_stack.screen import Screen, ScreenHandler
from taskfactory_stack.services import LOOPBACK_EGRESS_ENV, ServiceSet
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.stack import Stack

__all__ = [
    "EXAMPLES",
    "FIRINGS",
    "PLUGINS",
    "ScheduleFirer",
    "front_matter",
    "install_plugins",
    "load_example",
    "load_example_events",
    "pip_install_target",
    "render_definitions",
    "run",
    "serve",
]

EXAMPLES = Path("examples")
LOAN = EXAMPLES / "loan-approval"
MONITORING = EXAMPLES / "monitoring"
#: The worked examples' plugin packages, installed for the executor.
PLUGINS = (LOAN / "plugin", MONITORING / "plugin")
#: The task the referred application waits in, and what the credit team types to approve it.
REVIEW_TASK = "review"
APPROVAL_ARGS = ("--by", "credit-team", "--comment", "income verified")
#: What the status page says at each firing: the notification comes from the change only.
FIRINGS = ("ok", "degraded", "degraded")
#: How long a step may take before the demo gives up (a first run on a busy machine is slow).
WAIT_SECONDS = 300.0


# ---- the examples' files ----------------------------------------------------------------------
def load_example_events(
    folder: Path, *, nonce: str, unique_subjects: bool = False
) -> list[Envelope]:
    """The envelopes in ``folder/*.json``, ids suffixed with ``nonce`` so each demo is new work.

    ``unique_subjects`` suffixes the subjects too: for definitions whose workflow id is
    derived from the subject (one run per loan application), a replay of the sample files is
    then a new application rather than a duplicate of the last demo's.
    """
    out = []
    for path in sorted(folder.glob("*.json")):
        for item in json.loads(path.read_text(encoding="utf-8")):
            data = json.dumps(item.pop("data", {})).encode()
            item["id"] = f"{item['id']}-{nonce}"
            if unique_subjects:
                item["subject"] = f"{item['subject']}-{nonce}"
            out.append(Envelope(time=datetime.now(UTC), data=data, **item))
    return out


def front_matter(path: Path) -> tuple[dict[str, Any], str]:
    """The YAML front matter of a Markdown definition, and the text after it."""
    _, source, body = path.read_text(encoding="utf-8").split("---\n", 2)
    doc: dict[str, Any] = yaml.safe_load(source)
    return doc, body.strip()


def load_example(path: Path) -> ModuleType:
    """Import an example's stand-in server (``examples/loan-approval/bank.py`` …) by path.

    The example folders are not packages (their names have dashes), and the files stay
    runnable on their own (``python examples/loan-approval/bank.py``).
    """
    path = path.resolve()
    name = f"taskfactory_example_{path.parent.name.replace('-', '_')}_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise StackError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def pip_install_target(target: Path, sources: Sequence[Path]) -> None:
    """``uv pip install --no-deps --target target`` the packages at ``sources``."""
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        raise StackError("uv not found on PATH: the example plugins are installed with uv")
    done = subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--python",
            sys.executable,
            "--target",
            str(target),
            *(str(s) for s in sources),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise StackError(f"installing {', '.join(map(str, sources))} failed:\n{done.stderr}")


def _digest(sources: Sequence[Path]) -> str:
    sha = hashlib.sha256()
    for source in sources:
        for path in sorted(source.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                sha.update(str(path.relative_to(source.parent)).encode() + b"\0")
                sha.update(path.read_bytes() + b"\0")
    return sha.hexdigest()


def install_plugins(target: Path, sources: Sequence[Path] = PLUGINS) -> bool:
    """Install the example plugins into ``target`` (the executor's PYTHONPATH).

    Cached: nothing is done when ``target`` already holds exactly these sources. The new
    install is built beside ``target`` and swapped in, so an interrupted one leaves no half.
    Returns whether it installed.
    """
    digest = _digest(sources)
    stamp = target / ".taskfactory-sources"
    if stamp.is_file() and stamp.read_text() == digest:
        return False
    fresh = target.with_name(f"{target.name}.{os.getpid()}.new")
    shutil.rmtree(fresh, ignore_errors=True)
    try:
        pip_install_target(fresh, sources)
        (fresh / stamp.name).write_text(digest)
        shutil.rmtree(target, ignore_errors=True)
        fresh.rename(target)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return True


def render_definitions(folder: Path, *, bank_url: str, site_url: str) -> list[ActivityDefinition]:
    """Write the demo's definitions into ``folder``; returns them.

    ``examples/definitions`` as they are, except the plugin-free loan sketch, whose place
    the worked loan-approval example takes; the worked examples with only what a deployment
    changes (the URLs of the bank and of the monitored site), and the monitor's schedule
    paused: ``make run`` fires it itself, and nothing fires it once ``make run`` has ended.
    """
    loan, loan_text = front_matter(LOAN / "definitions" / "loan-approval.md")
    loan["context"]["bank"]["value"]["url"] = bank_url
    monitor, monitor_text = front_matter(MONITORING / "definitions" / "site-monitor.md")
    monitor["context"]["target"]["value"]["url"] = site_url
    monitor["trigger"]["schedule"]["paused"] = True
    worked = {
        loan["id"]: (LOAN, {**loan, "description": loan_text}),
        monitor["id"]: (MONITORING, {**monitor, "description": monitor_text}),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.is_file():
            old.unlink()
    for path in sorted((EXAMPLES / "definitions").iterdir()):
        found, _ = check_paths([path])
        if path.is_file() and not any(d.id in worked for d in found):
            shutil.copyfile(path, folder / path.name)
    for definition_id, (source, doc) in worked.items():
        paused = ", schedule paused (make run triggers it)" if "schedule" in doc["trigger"] else ""
        header = (
            f"# Rendered by `make run` from {source}/definitions: the stand-ins' URLs{paused}.\n"
        )
        text = header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
        (folder / f"{definition_id}.yaml").write_text(text, encoding="utf-8")
    return load_definitions(folder)


@asynccontextmanager
async def serve(app: web.Application, port: int = 0) -> AsyncIterator[int]:
    """Serve ``app`` on the loopback (``port`` 0: a free one); yields the port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        yield int(sock.getsockname()[1])
    finally:
        await runner.cleanup()
        sock.close()


def runs_unattended(envelope: Envelope, definitions: list[ActivityDefinition]) -> str | None:
    """``None`` if the event starts a run that finishes without a human, else why not."""
    wanted = [d for d in definitions if matches(d, envelope)[0]]
    if not wanted:
        return "no definition wants it (see `taskfactory explain`)"
    for definition in wanted:
        if any(t.approval is not None or t.type == APPROVAL_TASK_TYPE for t in definition.tasks):
            return f"{definition.id} waits for a human approval (`taskfactory runs approve`)"
    return None


# ---- what the demo watches --------------------------------------------------------------------
#: Everything the demo prints goes through here (lines above one progress line; a closed
#: stdout noticed, see :mod:`taskfactory_stack.screen`).
SCREEN = Screen()


def _say(text: str = "") -> None:
    SCREEN.line(text)


def _output(result: TaskResult) -> Any:
    return json.loads(result.output_json) if result.output_json else None


@dataclass
class _Watch:
    """The results of this demo's runs as they arrive, and which runs have closed."""

    tracked: set[str]
    monitor_id: str
    by_run: dict[str, dict[str, TaskResult]] = field(default_factory=dict)
    runs_of: dict[str, set[str]] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    received: int = 0
    t0: float = field(default_factory=time.monotonic)
    first: float | None = None

    def take(self, result: TaskResult) -> None:
        if result.causation_id not in self.tracked and result.definition_id != self.monitor_id:
            return  # someone else's run publishing to the same topic
        self.received += 1
        if self.first is None:
            self.first = time.monotonic() - self.t0
        self.by_run.setdefault(result.run_id, {})[result.task_id] = result
        self.runs_of.setdefault(result.causation_id, set()).add(result.run_id)
        _say(
            f"  result  {result.run_id}  task={result.task_id}  "
            f"status={result.status.value}  output={result.output_json}"
        )

    def done(self, event_id: str) -> bool:
        runs = self.runs_of.get(event_id, set())
        return bool(runs) and runs <= self.closed

    def results_of(self, event_id: str) -> dict[str, TaskResult]:
        out: dict[str, TaskResult] = {}
        for run_id in sorted(self.runs_of.get(event_id, ())):
            out.update(self.by_run.get(run_id, {}))
        return out


async def _assign_at_end(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    partitions = consumer.partitions_for_topic(topic)
    while not partitions:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic)
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)
    return tps


async def _poll(consumer: AIOKafkaConsumer, codec: AvroCodec, watch: _Watch) -> None:
    batch = await consumer.getmany(timeout_ms=300)
    for records in batch.values():
        for record in records:
            watch.take(codec.decode_task_result(record.value or b""))


async def _drain(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], codec: AvroCodec, watch: _Watch
) -> None:
    """Read up to the end offsets of now: every result of a closed run has been seen."""
    ends = await consumer.end_offsets(tps)
    for tp in tps:
        while await consumer.position(tp) < ends[tp]:
            await _poll(consumer, codec, watch)


async def _closed(client: Client, run_id: str) -> bool:
    description = await client.get_workflow_handle(run_id).describe()
    return description.status != WorkflowExecutionStatus.RUNNING


class _Progress:
    def __init__(self, watch: _Watch, awaited: set[str]) -> None:
        self.watch = watch
        self.awaited = awaited
        self.started = 0

    def line(self) -> str:
        done = sum(self.watch.done(e) for e in self.awaited)
        return (
            f"  events awaited {len(self.awaited)} · runs started {self.started} · "
            f"results received {self.watch.received} · events done {done}/{len(self.awaited)}"
        )


# ---- the worked examples' steps ---------------------------------------------------------------
def _cli() -> list[str]:
    script = Path(sys.executable).with_name("taskfactory")
    return [str(script)] if script.exists() else [sys.executable, "-m", "taskfactory_runtime.cli"]


async def _approve(client: Client, run_id: str, env: dict[str, str]) -> None:
    """Wait until ``run_id`` waits for its review, then approve it with the CLI."""
    handle = client.get_workflow_handle(run_id)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            view = await handle.query(names.QUERY_STATUS, result_type=RunStatusView)
            if view.tasks[REVIEW_TASK].phase is TaskPhase.WAITING_APPROVAL:
                break
        except RPCError:
            pass  # the ingress has not started the run yet
        if time.monotonic() > deadline:
            raise StackError(f"{run_id} did not reach its review within {WAIT_SECONDS:.0f}s")
        await asyncio.sleep(0.3)
    args = ["runs", "approve", run_id, REVIEW_TASK, *APPROVAL_ARGS]
    shown = " ".join(f"'{a}'" if " " in a else a for a in args)
    _say(f"  {run_id} waits for the credit team; approving it as a person would:")
    _say(f"    $ uv run taskfactory {shown}")
    process = await asyncio.create_subprocess_exec(
        *_cli(),
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        raise StackError(f"taskfactory runs approve failed:\n{err.decode(errors='replace')}")
    _say(f"  {run_id}: approved by credit-team")


async def _synced(client: Client, handle: ScheduleHandle, site_url: str) -> None:
    """Wait until the orchestrator's schedules sync wrote this demo's monitor schedule."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            action = (await handle.describe()).schedule.action
            if isinstance(action, ScheduleActionStartWorkflow) and action.args:
                [arg] = await client.data_converter.decode([action.args[0]], [dict])
                target = arg["definition"]["context"]["target"]["value"]
                if target["url"] == site_url:
                    return
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        if time.monotonic() > deadline:
            raise StackError(f"the orchestrator did not sync schedule {handle.id}; see its log")
        await asyncio.sleep(0.3)


@dataclass
class _Firing:
    status: str
    run_id: str = ""


async def _fire(client: Client, schedule_id: str, page: Any, site_url: str) -> list[_Firing]:
    """Trigger the monitor's schedule once per ``FIRINGS``, each after the last one's run."""
    await _synced(client, client.get_schedule_handle(schedule_id), site_url)
    firer = ScheduleFirer(client, schedule_id)
    firings: list[_Firing] = []
    for n, status in enumerate(FIRINGS, 1):
        page.status = status
        _say(f"  monitoring: firing {n}/{len(FIRINGS)}, the site says {status!r}:")
        _say(f"    $ uv run taskfactory schedules trigger {schedule_id}")
        outcome = await firer.fire()
        if outcome["status"] != "started":
            raise StackError(f"a firing of {schedule_id} did not run: {outcome}")
        firings.append(_Firing(status, outcome["run_id"]))
    return firings


async def _actions(handle: ScheduleHandle) -> set[str]:
    """The workflow ids of the schedule's recent firings."""
    return {
        a.action.workflow_id
        for a in (await handle.describe()).info.recent_actions
        if isinstance(a.action, ScheduleActionExecutionStartWorkflow)
    }


@dataclass
class ScheduleFirer:
    """Fires a schedule now, as ``taskfactory schedules trigger`` does, one firing at a time.

    ``fire`` returns the firing workflow's outcome (a dict: ``status``, ``run_id`` …) once
    the run it started has finished. A paused schedule fires too when triggered.
    """

    client: Client
    schedule_id: str
    wait_seconds: float = WAIT_SECONDS
    _seen: set[str] | None = field(default=None, init=False)
    _next: float = field(default=0.0, init=False)

    async def fire(self) -> dict[str, Any]:
        """Trigger, wait for the new firing to finish, return its outcome."""
        handle = self.client.get_schedule_handle(self.schedule_id)
        if self._seen is None:
            self._seen = await _actions(handle)
        # Temporal names a firing by its time to the second: one firing per second at most.
        await asyncio.sleep(max(0.0, self._next - time.time()))
        await handle.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
        deadline = time.monotonic() + self.wait_seconds
        while not (new := await _actions(handle) - self._seen):
            if time.monotonic() > deadline:
                raise StackError(f"schedule {self.schedule_id} did not fire when triggered")
            await asyncio.sleep(0.2)
        [firing_id] = sorted(new)[-1:]
        self._seen.add(firing_id)
        outcome: dict[str, Any] = await asyncio.wait_for(
            self.client.get_workflow_handle(firing_id).result(), self.wait_seconds
        )
        when = datetime.fromisoformat(str(outcome["scheduled_for"]).replace("Z", "+00:00"))
        self._next = when.timestamp() + 1.0
        return outcome


# ---- the summary ------------------------------------------------------------------------------
def _loan_lines(loans: list[Envelope], watch: _Watch, bank: Any) -> list[str]:
    lines = [f"loan approval ({LOAN}/README.md):"]
    for loan in loans:
        results = watch.results_of(loan.id)
        data = json.loads(loan.data)
        steps = []
        decision = _output(results["decide"]) if "decide" in results else None
        if decision:
            how = " (automatic)" if decision["automatic"] else ""
            steps.append(f"decide: {decision['decision']}{how}")
        if "review" in results:
            review = _output(results["review"]) or {}
            steps.append(f"review: approved by {review.get('by')}")
        notice = _output(results["notify"]) if "notify" in results else None
        steps.append(f"notify: {notice['outcome']}" if notice else "no notice")
        lines.append(f"  {loan.subject:<28} {data['amount']:>6} EUR  " + " → ".join(steps))
    paid = len(bank.payouts)
    lines.append(
        f"  the bank (examples/loan-approval/bank.py) paid {paid} disbursement(s), one per "
        "Idempotency-Key"
    )
    return lines


def _monitor_lines(firings: list[_Firing], watch: _Watch, schedule_id: str) -> list[str]:
    lines = [f"monitoring ({MONITORING}/README.md), schedule {schedule_id}:"]
    notes = 0
    for n, firing in enumerate(firings, 1):
        results = watch.by_run.get(firing.run_id, {})
        compare = _output(results["compare"]) if "compare" in results else {}
        if compare.get("first"):
            seen = "first observation (the baseline)"
        elif compare.get("changed"):
            seen = f"changed (was {compare.get('previous')!r})"
        else:
            seen = "unchanged"
        if "notify" in results:
            notes += 1
            told = f"NOTIFICATION: {(_output(results['notify']) or {}).get('message')}"
        else:
            told = "no notification"
        lines.append(f"  firing {n}  site {firing.status!r:<11} {seen:<34} {told}")
    lines.append(f"  {notes} notification(s) for {len(firings)} firings")
    return lines


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
    _say(
        f"plugins: {', '.join(str(p.parent.name) for p in PLUGINS)} example task types "
        f"{'installed into' if fresh else 'cached in'} {plugins}"
    )
    bank = load_example(LOAN / "bank.py").Bank()
    page = load_example(MONITORING / "site.py").StatusPage()
    async with AsyncExitStack() as servers:
        bank_url = f"http://127.0.0.1:{await servers.enter_async_context(serve(bank.app()))}"
        site_port = await servers.enter_async_context(serve(page.app()))
        site_url = f"http://127.0.0.1:{site_port}/status"
        _say(f"stand-ins: bank {bank_url} ({LOAN}/bank.py), site {site_url} ({MONITORING}/site.py)")
        folder = settings.demo_root / "definitions"
        definitions = render_definitions(folder, bank_url=bank_url, site_url=site_url)
        _say(f"definitions: {', '.join(d.id for d in definitions)} (rendered into {folder})")

        # The plugin-free loan sketch of examples/definitions is not running: its event stays out.
        replaced = [d for d in load_definitions(EXAMPLES / "definitions") if d not in definitions]
        events = []
        for event in load_example_events(EXAMPLES / "events", nonce=nonce):
            sketch = next((d.id for d in replaced if matches(d, event)[0]), None)
            if sketch is not None:
                _say(f"  {event.id}: not sent — the worked example replaces the {sketch} sketch")
                continue
            events.append(event)
        loans = load_example_events(LOAN / "events", nonce=nonce, unique_subjects=True)
        awaited = {e.id for e in events if runs_unattended(e, definitions) is None}
        for event in events:
            why = runs_unattended(event, definitions)
            if why is not None:
                _say(f"  {event.id}: no result expected here — {why}")
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
            tps = await _assign_at_end(consumer, topics.results)
            env = {
                "TASKFACTORY_KAFKA__BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
                "TASKFACTORY_TEMPORAL__ADDRESS": stack.temporal_address,
                "TASKFACTORY_DEFINITIONS_DIR": str(folder),
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
                **(
                    {"TASKFACTORY_TRACING__OTLP_ENDPOINT": stack.otlp_endpoint}
                    if stack.otlp_endpoint
                    else {}
                ),
                # Confluent-framed events (confluent-kafka's AvroSerializer) are read too.
                **(
                    {"TASKFACTORY_KAFKA__SCHEMA_REGISTRY_URL": stack.schema_registry_url}
                    if stack.schema_registry_url
                    else {}
                ),
            }
            services.start(env, cwd=Path.cwd())
            _say(
                "services: orchestrator, executor, ingress started "
                f"(logs in {settings.demo_root / 'logs'})"
            )
            codec = AvroCodec()
            await _publish(stack, topics.events, [*events, *loans], codec)
            _say(
                f"published {len(events)} example events and {len(loans)} loan requests "
                f"to {topics.events}"
            )
            monitor_id = "site-monitor"
            schedule_id = os.environ.get("TASKFACTORY_SCHEDULES__ID_PREFIX", "taskfactory-")
            schedule_id += monitor_id
            watch = _Watch(tracked={e.id for e in [*events, *loans]}, monitor_id=monitor_id)
            steps = asyncio.gather(
                *(_approve(client, _loan_run(e), env) for e in referred),
                _fire(client, schedule_id, page, site_url),
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
            await _drain(consumer, tps, codec, watch)
            SCREEN.end_status()
            _say()
            for line in [
                *_loan_lines(loans, watch, bank),
                *_monitor_lines(firings, watch, schedule_id),
            ]:
                _say(line)
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
    watch: _Watch,
    awaited: set[str],
    steps: asyncio.Future[list[Any]],
    stop: asyncio.Event,
) -> list[_Firing] | None:
    """Print results until every awaited event is done and the steps ran; the firings."""
    since = datetime.now(UTC).replace(microsecond=0)
    mine = f"TaskQueue = '{queue}' AND StartTime >= '{since.isoformat()}'"
    progress = _Progress(watch, awaited)
    try:
        while not stop.is_set() and not SCREEN.gone():
            services.check()
            await _poll(consumer, codec, watch)
            progress.started = int((await client.count_workflows(mine)).count)
            for run_ids in watch.runs_of.values():
                for run_id in run_ids - watch.closed:
                    if await _closed(client, run_id):
                        watch.closed.add(run_id)
            SCREEN.status(progress.line())
            if steps.done():
                outcome = steps.result()  # raises what a step raised
                if all(watch.done(e) for e in awaited):
                    firings: list[_Firing] = outcome[-1]
                    return firings
        return None
    finally:
        if not steps.done():
            steps.cancel()
            await asyncio.gather(steps, return_exceptions=True)


def _finale(settings: StackSettings, stack: Stack, watch: _Watch, topic: str, events: int) -> None:
    first = watch.first or 0.0
    _say(
        f"\nall {events} events and {len(FIRINGS)} firings done; first result after {first:.1f}s, "
        f"all after {time.monotonic() - watch.t0:.1f}s.\n"
        f"Temporal UI: http://127.0.0.1:{settings.temporal_ui_port}/namespaces/default/workflows\n"
        + (
            "Traces:      uv run taskfactory trace EVENT_ID (Jaeger's API; no UI here)\n"
            if stack.jaeger_ui
            else ""
        )
        + f"Still running: publish more events to {topic} on {stack.kafka_bootstrap}; "
        "Ctrl-C stops everything."
    )


async def _keep_running(
    services: ServiceSet,
    consumer: AIOKafkaConsumer,
    codec: AvroCodec,
    watch: _Watch,
    stop: asyncio.Event,
) -> None:
    while not stop.is_set() and not SCREEN.gone():
        services.check()
        await _poll(consumer, codec, watch)


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
    _say("stack: bringing up Kafka and Temporal (cached after the first time) …")
    started = stack.up(skip=("jaeger",) if later else ())
    for row in stack.status():
        if not (later and row.name == "jaeger"):
            _say(f"  {row.name:<9} {row.address:<16} {row.health}  {row.extra}")
    if background is not None and later:
        background.start()
        _say(
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
        _say(f"\nerror: {exc}")
        code = 1
    finally:
        SCREEN.end_status()
        _say("\nstopping services …")
        services.stop()
        ours = list(started)
        if background is not None and later:
            if background.stop():
                _say("stopped the Jaeger build (it starts again with the next `make run`)")
            if "jaeger" not in ours and jaeger is not None and jaeger.process.pid() is not None:
                ours.append("jaeger")
        if ours:
            _say(f"stopping {', '.join(ours)} (this run started them) …")
            stack.down(only=ours)
        else:
            _say("leaving the stack running (it was up before `make run`)")
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
        _say(f"  jaeger: built and up, tracing attached: {stack.jaeger_ui}")
    else:
        _say(
            "  jaeger: the background build failed; the demo runs without traces "
            f"(see {background.process.log_file})"
        )
