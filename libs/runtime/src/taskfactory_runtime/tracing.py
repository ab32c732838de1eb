"""OpenTelemetry tracer provider: OTLP export when an endpoint is set, otherwise no export."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from taskfactory_runtime.settings import TracingSettings

__all__ = ["configure_tracing"]


def configure_tracing(
    settings: TracingSettings, *, service: str, version: str
) -> Callable[[], None]:
    """Install the global tracer provider; returns a function that flushes and shuts it down."""
    resource = Resource.create(
        {
            "service.name": service,
            "service.namespace": "taskfactory",
            "service.version": version,
            "service.instance.id": f"{socket.gethostname()}-{os.getpid()}",
        }
    )
    provider = TracerProvider(
        resource=resource, sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio))
    )
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint, insecure=True)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider.shutdown
