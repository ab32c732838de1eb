"""``make schemas-check`` asks the real schema registry too, when one is configured."""

from __future__ import annotations

import json

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from support.registry import registry_client

from taskfactory_contracts import ENVELOPE, default_store
from taskfactory_runtime.schemas_check import main

pytestmark = pytest.mark.integration


@pytest.fixture
def registry_env(
    monkeypatch: pytest.MonkeyPatch, schema_registry_url: str, uid: str
) -> SchemaRegistryClient:
    monkeypatch.setenv("TASKFACTORY_KAFKA__SCHEMA_REGISTRY_URL", schema_registry_url)
    monkeypatch.setenv("TASKFACTORY_TOPICS__EVENTS", f"{uid}.events")
    return registry_client(schema_registry_url)


def _shipped() -> str:
    return str(default_store().folder)


def test_the_registry_accepts_the_shipped_versions_after_v1(
    registry_env: SchemaRegistryClient, uid: str, capsys: pytest.CaptureFixture[str]
) -> None:
    subject = f"{uid}.events-value"
    registry_env.set_compatibility(subject, "BACKWARD_TRANSITIVE")
    registry_env.register_schema(subject, Schema(default_store().get(ENVELOPE, 1).json, "AVRO"))
    assert main([_shipped()]) == 0
    assert f"registry accepts every envelope version under {subject}" in capsys.readouterr().out


def test_a_version_the_registry_refuses_fails_naming_subject_and_version(
    registry_env: SchemaRegistryClient, uid: str, capsys: pytest.CaptureFixture[str]
) -> None:
    subject = f"{uid}.events-value"
    registry_env.set_compatibility(subject, "BACKWARD_TRANSITIVE")
    # Registered earlier by some producer: an envelope without `subject`, which every shipped
    # version requires (no default), so none can read what it wrote.
    raw = json.loads(default_store().get(ENVELOPE, 1).json)
    raw["fields"] = [f for f in raw["fields"] if f["name"] != "subject"]
    registry_env.register_schema(subject, Schema(json.dumps(raw), "AVRO"))
    assert main([_shipped()]) == 1
    err = capsys.readouterr().err
    assert f"{ENVELOPE} v2 is not compatible (BACKWARD_TRANSITIVE) with version 1" in err
    assert subject in err


def test_a_subject_without_a_transitive_level_is_named_with_the_fix(
    registry_env: SchemaRegistryClient, uid: str, capsys: pytest.CaptureFixture[str]
) -> None:
    subject = f"{uid}.events-value"
    registry_env.set_compatibility(subject, "BACKWARD")
    assert main([_shipped()]) == 1
    err = capsys.readouterr().err
    assert f"subject {subject} enforces BACKWARD, not BACKWARD_TRANSITIVE" in err
