"""Zipkin with its UI: the local stack's trace view, fed the spans Jaeger receives.

Jaeger built from its Go module carries no UI assets (its UI is a separate JavaScript build
that no registry this project uses publishes). Zipkin's server is one executable jar on Maven
Central (``io.zipkin:zipkin-server:<version>:jar:exec``) with its UI (Lens) inside. It is fed
through Kafka: Jaeger's pipeline exports every batch of spans, in Zipkin's JSON, to the topic
:data:`ZIPKIN_TOPIC` (its ``kafka`` exporter), and Zipkin's Kafka collector reads that topic
from the beginning. The services keep exporting OTLP to Jaeger only; Zipkin keeps spans in
memory and listens on loopback.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from taskfactory_stack.component import Component
from taskfactory_stack.errors import StackError
from taskfactory_stack.maven import cache_root, copy
from taskfactory_stack.settings import StackSettings

__all__ = ["ZIPKIN_TOPIC", "ZipkinComponent", "ensure_zipkin", "jaeger_exporter", "zipkin_jar"]

#: The Kafka topic Jaeger writes spans to and Zipkin's collector reads (Zipkin's default).
ZIPKIN_TOPIC = "zipkin"
#: The exporter's name in Jaeger's pipeline.
_EXPORTER = "kafka/zipkin"


def zipkin_jar(settings: StackSettings) -> Path:
    """Where Zipkin's executable jar is cached."""
    version = settings.zipkin_version
    return cache_root(settings) / "zipkin" / version / f"zipkin-server-{version}-exec.jar"


def ensure_zipkin(settings: StackSettings) -> Path:
    """Zipkin's executable jar (fetched with ``mvn`` the first time, then cached)."""
    jar = zipkin_jar(settings)
    if jar.is_file():
        return jar
    version = settings.zipkin_version
    print(f"zipkin: fetching Zipkin {version} from Maven Central with mvn …", flush=True)
    return copy("zipkin", f"io.zipkin:zipkin-server:{version}:jar:exec", jar.parent)


def jaeger_exporter(brokers: str) -> tuple[str, str]:
    """What Jaeger's configuration adds to feed Zipkin: the exporter's name and its block."""
    block = (
        f"  {_EXPORTER}:\n"
        f"    brokers: [{brokers}]\n"
        "    traces:\n"
        f"      topic: {ZIPKIN_TOPIC}\n"
        "      encoding: zipkin_json\n"
    )
    return _EXPORTER, block


@dataclass
class ZipkinComponent(Component):
    """Zipkin's server and UI on a loopback port, collecting from the stack's Kafka."""

    name: str = "zipkin"
    #: The Kafka bootstrap address Jaeger writes the spans to.
    brokers: str = ""

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.zipkin_port,)

    @property
    def ui(self) -> str:
        """Where a person opens the trace view."""
        return self.http("/zipkin/")

    @property
    def extra(self) -> str:
        return f"UI {self.ui}"

    def prepare(self) -> None:
        ensure_zipkin(self.settings)

    def argv(self) -> tuple[list[str], dict[str, str]]:
        java = shutil.which("java")
        if java is None:
            raise StackError("zipkin: `java` is missing; install a JDK 17+")
        port = self.settings.zipkin_port
        env = {
            **os.environ,
            "STORAGE_TYPE": "mem",
            # Its default (500 000 spans) outgrows the small heap over a test run; the oldest
            # traces make room.
            "MEM_MAX_SPANS": str(self.settings.zipkin_max_spans),
            "KAFKA_BOOTSTRAP_SERVERS": self.brokers,
            "KAFKA_TOPIC": ZIPKIN_TOPIC,
        }
        argv = [
            java,
            f"-Xmx{self.settings.zipkin_heap}",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-jar",
            str(zipkin_jar(self.settings)),
            # Loopback only: the whole port entry is given, or the address replaces it.
            "--armeria.ports[0].ip=127.0.0.1",
            f"--armeria.ports[0].port={port}",
            "--armeria.ports[0].protocols[0]=http",
            # Spans written before Zipkin (re)started are read too: its storage is memory.
            "--zipkin.collector.kafka.overrides.auto.offset.reset=earliest",
        ]
        return argv, env

    async def probe(self) -> str | None:
        import httpx

        try:
            async with httpx.AsyncClient(timeout=3) as http:
                health = await http.get(self.http("/health"))
                ui = await http.get(self.ui)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if health.status_code != 200 or health.json().get("status") != "UP":
            return f"health {health.status_code}: {health.text[:200]}"
        return None if ui.status_code == 200 else f"UI {ui.status_code}"
