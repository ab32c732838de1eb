"""The stack's trace view: Zipkin runs beside Jaeger, which feeds it through a Kafka topic.

What a person sees in it is proven live by tests/security/test_trace_view_browser.py; these
check the wiring each stack gets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from taskfactory_stack.jaeger import JaegerComponent
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.stack import Stack
from taskfactory_stack.zipkin import ZIPKIN_TOPIC, ZipkinComponent


def _jaeger_config(stack: Stack) -> dict[str, Any]:
    jaeger = next(c for c in stack.components if isinstance(c, JaegerComponent))
    config: dict[str, Any] = yaml.safe_load(jaeger.config())
    return config


def test_jaeger_writes_every_span_to_the_topic_zipkin_reads(tmp_path: Path) -> None:
    stack = Stack(StackSettings(dir=tmp_path, kafka_port=19192, zipkin_port=19411))
    config = _jaeger_config(stack)
    pipeline = config["service"]["pipelines"]["traces"]
    # Jaeger keeps its own storage; Zipkin gets a copy of the same batches.
    assert pipeline["exporters"] == ["jaeger_storage_exporter", "kafka/zipkin"]
    feed = config["exporters"]["kafka/zipkin"]
    assert feed["brokers"] == ["127.0.0.1:19192"]
    assert feed["traces"] == {"topic": ZIPKIN_TOPIC, "encoding": "zipkin_json"}
    zipkin = next(c for c in stack.components if isinstance(c, ZipkinComponent))
    argv, env = zipkin.argv()
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:19192"
    assert env["KAFKA_TOPIC"] == ZIPKIN_TOPIC
    assert env["STORAGE_TYPE"] == "mem"
    assert env["MEM_MAX_SPANS"] == "50000"  # bounded, within its heap
    # Loopback only, on its own port; the UI is where the README sends a person.
    assert "--armeria.ports[0].ip=127.0.0.1" in argv
    assert "--armeria.ports[0].port=19411" in argv
    assert stack.trace_ui == "http://127.0.0.1:19411/zipkin/"


def test_without_zipkin_jaeger_exports_to_its_storage_only(tmp_path: Path) -> None:
    stack = Stack(StackSettings(dir=tmp_path, zipkin=False))
    config = _jaeger_config(stack)
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["jaeger_storage_exporter"]
    assert set(config["exporters"]) == {"jaeger_storage_exporter"}
    assert "zipkin" not in [c.name for c in stack.components]
    assert stack.trace_ui is None


def test_without_jaeger_there_is_nothing_to_feed_zipkin(tmp_path: Path) -> None:
    stack = Stack(StackSettings(dir=tmp_path, jaeger=False))
    assert [c.name for c in stack.components] == ["kafka", "temporal", "registry"]
    assert stack.trace_ui is None
