"""The trace view the README points to, in a real headless Chromium, shows an event's trace.

An event goes through the three services on the stack; its spans reach Jaeger (OTLP) and,
through Jaeger's Kafka exporter, the stack's Zipkin, whose UI is the local trace view. The
browser opens the search the README gives (the event id as a tag), follows the one result and
finds the spans of the ingress, the orchestrator and the executor on the page.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import Topics
from playwright.async_api import Browser, expect

from taskfactory_runtime.settings import KafkaSettings
from taskfactory_runtime.trace import EVENT_ID_TAG
from taskfactory_stack.running import RunningServices
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.traffic import consume, echo_definition, envelope, produce_envelopes
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PNG = b"\x89PNG\r\n\x1a\n"
SERVICES = ("taskfactory-ingress", "taskfactory-orchestrator", "taskfactory-executor")


def _trace_ui() -> str:
    """The stack's Zipkin UI (``TASKFACTORY_TRACE_UI`` for another)."""
    default = f"http://127.0.0.1:{StackSettings().zipkin_port}/zipkin/"
    return os.environ.get("TASKFACTORY_TRACE_UI", default).rstrip("/") + "/"


async def _zipkin_trace(ui: str, event_id: str) -> list[dict[str, Any]]:
    """The spans of the event's trace as Zipkin's API has them (empty until it arrived)."""
    async with httpx.AsyncClient(timeout=5) as http:
        found = await http.get(
            f"{ui}api/v2/traces",
            params={"annotationQuery": f"{EVENT_ID_TAG}={event_id}", "lookback": 3_600_000},
        )
    found.raise_for_status()
    traces: list[list[dict[str, Any]]] = found.json()
    return traces[0] if traces else []


async def test_the_trace_view_shows_the_events_spans_from_the_three_services(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    browser: Browser,
    uid: str,
    tmp_path: Path,
) -> None:
    ui = _trace_ui()
    async with httpx.AsyncClient(timeout=5) as http:
        answer = await http.get(ui)
    assert answer.status_code == 200, f"no trace view at {ui} (the stack runs Zipkin)"
    assert "TASKFACTORY_TRACING__OTLP_ENDPOINT" in services.env
    (services.definitions / "echo.yaml").write_text(echo_definition("traced-ui", uid))
    services.start()
    event = envelope(1, uid=uid)
    await produce_envelopes(kafka_settings, topics.events, [event])
    await consume(kafka_settings, topics.results, at_least=1, timeout=120)

    spans: list[dict[str, Any]] = []

    async def whole_trace() -> bool:
        # Each service exports its spans in batches of its own: wait for all three, and for
        # the result's publish, the last span of a run.
        spans[:] = await _zipkin_trace(ui, event.id)
        services_seen = {span["localEndpoint"]["serviceName"] for span in spans}
        published = any("publish_local" in span.get("name", "") for span in spans)
        return published and set(SERVICES) <= services_seen

    await wait_for(whole_trace, timeout=90, what=f"the trace of {event.id} in Zipkin")

    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    # Nothing leaves the machine.
    await context.route(
        lambda url: not url.startswith(("http://127.0.0.1", "http://localhost")),
        lambda route: route.abort(),
    )
    page = await context.new_page()
    # The search the README gives: the event id as a tag.
    await page.goto(f"{ui}?annotationQuery={quote(EVENT_ID_TAG)}%3D{event.id}&lookback=1h")
    # The link fills in the criteria; a person runs the query.
    await page.get_by_role("button", name="Run Query").click()
    # One trace found: its root is the ingress's process span.
    results = page.get_by_role("row").filter(has_text=f"taskfactory-ingress: {topics.events}")
    await expect(results).to_have_count(1, timeout=30_000)
    await page.screenshot(path=tmp_path / "trace-search.png", full_page=True)
    await results.get_by_role("button", name="Show").click()
    # Zipkin lower-cases span names; the rows read "service: span".
    for service, span in (
        ("taskfactory-ingress", f"{topics.events} process"),
        ("taskfactory-orchestrator", "RunWorkflow:RunActivityWorkflow"),
        ("taskfactory-executor", "RunActivity:taskfactory.run_task"),
    ):
        row = page.get_by_text(re.compile(re.escape(f"{service}: {span}"), re.IGNORECASE))
        await expect(row.first).to_be_visible(timeout=30_000)
    shot = tmp_path / "trace-view.png"
    await page.screenshot(path=shot, full_page=True)
    data = shot.read_bytes()
    assert data.startswith(PNG), f"{shot} is not a PNG"
    assert len(data) > 10_000, f"{shot} is too small to show a page"
