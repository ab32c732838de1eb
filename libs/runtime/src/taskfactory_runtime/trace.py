"""``taskfactory trace EVENT_ID``: an event's trace as a tree in the terminal, from Jaeger's API.

The ingress tags its process span with ``taskfactory.event.id``; Jaeger's query API finds the
trace by that tag and returns every span of it (all three services). The local Jaeger, built
from its Go module, carries no UI assets; the local stack's Zipkin shows the same traces in a
browser, and this shows them in a terminal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import typer

__all__ = ["EVENT_ID_TAG", "SpanLine", "command", "find_traces", "render_tree", "span_lines"]

#: The span attribute the ingress sets to the envelope id (its process span).
EVENT_ID_TAG = "taskfactory.event.id"
INGRESS_SERVICE = "taskfactory-ingress"


@dataclass(frozen=True)
class SpanLine:
    """One span of the tree: its depth, service, operation, duration and status."""

    depth: int
    service: str
    operation: str
    duration_ms: float
    status: str


def _tags(span: Mapping[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span.get("tags", [])}


def _status(span: Mapping[str, Any]) -> str:
    tags = _tags(span)
    if tags.get("error") in (True, "true") or tags.get("otel.status_code") == "ERROR":
        return "ERROR"
    return "ok"


def span_lines(trace: Mapping[str, Any]) -> list[SpanLine]:
    """The spans of one Jaeger trace document, depth-first, children by start time.

    A span whose parent is not in the trace (the upstream producer's, or one not exported
    yet) is a root, so nothing is hidden.
    """
    spans = {span["spanID"]: span for span in trace["spans"]}
    processes = trace.get("processes", {})
    children: dict[str | None, list[Mapping[str, Any]]] = {}
    for span in spans.values():
        parents = [r["spanID"] for r in span.get("references", []) if r["refType"] == "CHILD_OF"]
        parent = parents[0] if parents and parents[0] in spans else None
        children.setdefault(parent, []).append(span)
    out: list[SpanLine] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s["startTime"]):
            process = processes.get(span.get("processID"), {})
            out.append(
                SpanLine(
                    depth=depth,
                    service=process.get("serviceName", "?"),
                    operation=span["operationName"],
                    duration_ms=span["duration"] / 1000,
                    status=_status(span),
                )
            )
            walk(span["spanID"], depth + 1)

    walk(None, 0)
    return out


def render_tree(trace: Mapping[str, Any]) -> list[str]:
    """The trace as text lines: a header, then one indented line per span."""
    lines = span_lines(trace)
    width = max((2 * line.depth + len(line.operation) for line in lines), default=0)
    service_width = max((len(line.service) for line in lines), default=0)
    errors = sum(line.status != "ok" for line in lines)
    out = [f"trace {trace['traceID']}  {len(lines)} spans  {errors} error(s)"]
    for line in lines:
        label = "  " * line.depth + line.operation
        out.append(
            f"  {label:<{width}}  {line.service:<{service_width}}  "
            f"{line.duration_ms:>10.1f} ms  {line.status}"
        )
    return out


def find_traces(
    jaeger: str, event_id: str, *, lookback: timedelta, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Every trace in Jaeger whose ingress span carries ``event_id`` (newest first)."""
    end = datetime.now(UTC)
    start = end - lookback
    params: dict[str, str | int] = {
        "service": INGRESS_SERVICE,
        "tags": json.dumps({EVENT_ID_TAG: event_id}),
        "start": int(start.timestamp() * 1_000_000),
        "end": int(end.timestamp() * 1_000_000),
        "limit": 20,
    }
    response = httpx.get(f"{jaeger.rstrip('/')}/api/traces", params=params, timeout=timeout)
    response.raise_for_status()
    traces: list[dict[str, Any]] = response.json().get("data") or []
    return sorted(traces, key=lambda t: -min((s["startTime"] for s in t["spans"]), default=0))


def _echo_all(traces: Iterable[Mapping[str, Any]]) -> None:
    for i, trace in enumerate(traces):
        if i:
            typer.echo("")
        for line in render_tree(trace):
            typer.echo(line)


def command(
    event_id: Annotated[str, typer.Argument(help="The envelope id of the event.")],
    jaeger: Annotated[
        str,
        typer.Option(
            envvar="TASKFACTORY_JAEGER_URL",
            help="Jaeger's query address (its /api is read).",
        ),
    ] = "http://127.0.0.1:16686",
    lookback_hours: Annotated[
        float, typer.Option(min=0.01, help="How far back to look for the event's trace.")
    ] = 24.0,
) -> None:
    """Show an event's trace as a tree: service, span, duration and status of every span."""
    try:
        traces = find_traces(jaeger, event_id, lookback=timedelta(hours=lookback_hours))
    except httpx.HTTPError as exc:
        typer.echo(f"trace: cannot query Jaeger at {jaeger}: {exc}", err=True)
        raise typer.Exit(1) from None
    if not traces:
        typer.echo(
            f"trace: no trace of event {event_id!r} in Jaeger at {jaeger} in the last "
            f"{lookback_hours:g} h (is TASKFACTORY_TRACING__OTLP_ENDPOINT set on the ingress?)",
            err=True,
        )
        raise typer.Exit(1)
    _echo_all(traces)
