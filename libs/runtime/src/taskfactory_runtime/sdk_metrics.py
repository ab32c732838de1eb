"""The Temporal SDK's own metrics, served through the service's one ``/metrics`` endpoint.

The SDK's Rust core exports Prometheus text on a loopback port of its own; the health server
appends that text to ours, so one scrape sees both.
"""

from __future__ import annotations

import socket

import httpx
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

__all__ = ["SdkMetrics"]


class SdkMetrics:
    """A Temporal runtime exporting SDK metrics on a private loopback port."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.runtime = Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(
                    bind_address=f"127.0.0.1:{port}",
                    counters_total_suffix=True,
                    durations_as_seconds=True,
                )
            )
        )

    async def text(self) -> str:
        """The SDK's metrics as Prometheus text ('' if not reachable)."""
        try:
            # Loopback: never through a proxy named in the environment.
            async with httpx.AsyncClient(timeout=2, trust_env=False) as http:
                response = await http.get(self.url)
        except httpx.HTTPError:
            return ""
        return response.text if response.status_code == 200 else ""
