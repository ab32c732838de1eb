"""The schema registry component: its JDK, its loopback-only command line, a real round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskfactory_stack.process import free_port
from taskfactory_stack.registry import RegistryComponent, find_java
from taskfactory_stack.settings import StackSettings

SHARED = StackSettings()


def _fake_jdk(root: Path, version: str) -> Path:
    java = root / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\nexit 0\n")
    java.chmod(0o755)
    (root / "release").write_text(f'JAVA_VERSION="{version}"\n')
    return java


def test_the_newest_jdk_at_least_the_minimum_is_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    java = _fake_jdk(tmp_path / "jdk-99", "99.0.1")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk-99"))
    assert find_java(21) == java
    assert find_java(100) is None


def test_an_old_jdk_runs_the_fallback_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    java = _fake_jdk(tmp_path / "jdk-17", "17.0.15")
    component = RegistryComponent(StackSettings(dir=tmp_path))
    component._java = java
    assert component.version == component.settings.registry_fallback_version
    component._java = _fake_jdk(tmp_path / "jdk-21", "21.0.2")
    assert component.version == component.settings.registry_version


def test_it_listens_on_loopback_only_and_keeps_its_data_in_the_stack_folder(
    tmp_path: Path,
) -> None:
    component = RegistryComponent(StackSettings(dir=tmp_path, registry_port=18123))
    argv, _ = component.argv()
    hosts = [a for a in argv if a.startswith("-Dquarkus.") and ".host=" in a]
    assert hosts == ["-Dquarkus.http.host=127.0.0.1", "-Dquarkus.management.host=127.0.0.1"]
    assert f"-Dapicurio.datasource.url=jdbc:h2:file:{tmp_path.resolve()}/registry/data/" in (
        " ".join(argv)
    )
    assert component.url == "http://127.0.0.1:18123/apis/ccompat/v7"


@pytest.mark.integration
def test_a_registered_schema_survives_a_restart(tmp_path: Path) -> None:
    """Real Apicurio on private ports: register, restart, the id still names the schema."""
    from confluent_kafka.schema_registry import Schema
    from support.registry import registry_client

    component = RegistryComponent(
        StackSettings(
            dir=tmp_path,
            jars_dir=SHARED.jars_dir or SHARED.root / "kafka",
            registry_port=free_port(),
            registry_management_port=free_port(),
        )
    )
    schema = '{"type":"record","name":"Probe","fields":[{"name":"a","type":"long"}]}'
    try:
        assert component.up()
        schema_id = registry_client(component.url).register_schema(
            "probe-value", Schema(schema, "AVRO")
        )
        assert component.down()
        assert component.probe_now() is not None  # really stopped
        assert component.up()
        fresh = registry_client(component.url)
        stored = fresh.get_schema(schema_id).schema_str
        assert stored is not None
        assert stored.replace(" ", "") == schema
    finally:
        component.down()
