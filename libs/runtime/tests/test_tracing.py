"""Spans are recorded only when they are exported; ids propagate either way."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from taskfactory_runtime.settings import TracingSettings
from taskfactory_runtime.tracing import sampler_for

SAMPLED_PARENT = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def _span(settings: TracingSettings, carrier: dict[str, str] | None = None) -> trace.Span:
    tracer = TracerProvider(sampler=sampler_for(settings)).get_tracer("test")
    parent = TraceContextTextMapPropagator().extract(carrier or {})
    return tracer.start_span("process", context=parent)


def test_without_an_endpoint_nothing_is_recorded_but_ids_still_exist_and_propagate() -> None:
    root = _span(TracingSettings())
    assert not root.is_recording()
    assert root.get_span_context().is_valid, "logs still get a trace id"
    child = _span(TracingSettings(), SAMPLED_PARENT)
    assert not child.is_recording()
    assert child.get_span_context().trace_id == 0x0AF7651916CD43DD8448EB211C80319C


def test_with_an_endpoint_spans_follow_the_ratio_and_the_parent() -> None:
    everything = TracingSettings(otlp_endpoint="http://127.0.0.1:4317", sample_ratio=1.0)
    assert _span(everything).is_recording()
    nothing_new = TracingSettings(otlp_endpoint="http://127.0.0.1:4317", sample_ratio=0.0)
    assert not _span(nothing_new).is_recording()
    assert _span(nothing_new, SAMPLED_PARENT).is_recording(), "a sampled parent is followed"
