"""The cluster profile's shape: components, ports and rendered configuration (no process)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from taskfactory_stack.cluster import BROKERS
from taskfactory_stack.errors import StackError
from taskfactory_stack.kafka_cluster import KafkaBroker
from taskfactory_stack.postgres import PostgresComponent
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.stack import Stack
from taskfactory_stack.temporal_server import TemporalServerComponent


def _cluster(tmp_path: Path) -> Stack:
    return Stack(StackSettings(dir=tmp_path / "stack", profile="cluster"))


def _properties(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_the_cluster_profile_is_postgres_three_brokers_temporal_and_jaeger(
    tmp_path: Path,
) -> None:
    stack = _cluster(tmp_path)
    names = [c.name for c in stack.components]
    assert names == [
        "postgres",
        "kafka-1",
        "kafka-2",
        "kafka-3",
        "temporal-server",
        "registry",
        "jaeger",
    ]
    assert stack.kafka_bootstrap == "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"
    assert stack.temporal_address == "127.0.0.1:7243"
    assert stack.replication_factor == 3
    assert stack.otlp_endpoint == "http://127.0.0.1:4327"
    assert stack.schema_registry_url == "http://127.0.0.1:8095/apis/ccompat/v7"
    # Its pids and logs live in a folder of its own.
    assert all(
        c.process.pid_file.parent == tmp_path / "stack" / "cluster" / "run"
        for c in stack.components
    )


def test_the_default_profile_is_unchanged(tmp_path: Path) -> None:
    stack = Stack(StackSettings(dir=tmp_path / "stack"))
    names = [c.name for c in stack.components]
    assert names == ["kafka", "temporal", "registry", "jaeger", "zipkin"]
    assert stack.kafka_bootstrap == "127.0.0.1:9092"
    assert stack.schema_registry_url == "http://127.0.0.1:8085/apis/ccompat/v7"
    assert stack.temporal_address == "127.0.0.1:7233"
    assert stack.replication_factor == 1


def test_no_port_of_the_cluster_collides_with_another_or_with_the_default_profile(
    tmp_path: Path,
) -> None:
    cluster = [p for c in _cluster(tmp_path).components for p in c.ports]
    default = [p for c in Stack(StackSettings(dir=tmp_path)).components for p in c.ports]
    assert len(cluster) == len(set(cluster))
    assert not set(cluster) & set(default)


def test_the_brokers_form_one_quorum_with_replicated_durable_topics(tmp_path: Path) -> None:
    brokers = [c for c in _cluster(tmp_path).components if isinstance(c, KafkaBroker)]
    props = [_properties(b._config()) for b in brokers]
    assert [p["node.id"] for p in props] == ["1", "2", "3"]
    assert len({p["controller.quorum.voters"] for p in props}) == 1
    assert props[0]["controller.quorum.voters"].count("@") == BROKERS
    assert len({p["log.dirs"] for p in props}) == BROKERS
    for p in props:
        assert p["default.replication.factor"] == "3"
        assert p["min.insync.replicas"] == "2"
        assert p["offsets.topic.replication.factor"] == "3"
        assert p["transaction.state.log.min.isr"] == "2"
        assert p["unclean.leader.election.enable"] == "false"
    # Enough heap to recover a suite's worth of partitions after a SIGKILL; out of it, exit.
    assert all(b._java()[1] == "-Xmx512m" for b in brokers)
    assert all("-XX:+ExitOnOutOfMemoryError" in b._java() for b in brokers)


def test_the_temporal_server_uses_postgres_for_persistence_and_visibility(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKFACTORY_STACK_CLUSTER_HISTORY_SHARDS", "16")
    server = next(
        c for c in _cluster(tmp_path).components if isinstance(c, TemporalServerComponent)
    )
    server.write_config()
    config = yaml.safe_load(server.config_file.read_text())
    persistence = config["persistence"]
    assert persistence["numHistoryShards"] == 16
    stores = persistence["datastores"]
    for store in (persistence["defaultStore"], persistence["visibilityStore"]):
        assert stores[store]["sql"]["pluginName"] == "postgres12"
        assert stores[store]["sql"]["connectAddr"] == "127.0.0.1:5442"
    assert config["services"]["frontend"]["rpc"]["grpcPort"] == 7243
    grpc = [config["services"][s]["rpc"]["grpcPort"] for s in config["services"]]
    assert len(set(grpc)) == len(grpc)
    dynamic = Path(config["dynamicConfigClient"]["filepath"])
    assert "system.forceSearchAttributesCacheRefreshOnRead" in yaml.safe_load(dynamic.read_text())


def test_the_cluster_temporal_server_starts_its_default_services_without_authorization(
    tmp_path: Path,
) -> None:
    server = next(
        c for c in _cluster(tmp_path).components if isinstance(c, TemporalServerComponent)
    )
    argv, _ = server.argv()
    assert argv[1:] == ["--config-file", str(server.config_file), "--allow-no-auth", "start"]


def test_postgres_keeps_its_data_outside_the_checkout_per_stack_folder(tmp_path: Path) -> None:
    one, two = (
        next(c for c in _cluster(tmp_path / d).components if isinstance(c, PostgresComponent))
        for d in ("a", "b")
    )
    assert one.data.parent == Path("/var/tmp")
    assert one.data != two.data


def _stack_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskfactory_stack", *args],
        capture_output=True,
        text=True,
        check=False,
        env={"TASKFACTORY_STACK_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )


def test_an_unknown_profile_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = _stack_cli(tmp_path, "status", "--profile", "huge")
    assert done.returncode == 2
    assert "huge" in done.stderr


def test_status_of_a_cluster_not_running_lists_every_component_stopped(tmp_path: Path) -> None:
    done = _stack_cli(tmp_path, "status", "--profile", "cluster")
    assert done.returncode == 3
    rows = [line.split()[0] for line in done.stdout.splitlines()]
    assert rows == [
        "postgres",
        "kafka-1",
        "kafka-2",
        "kafka-3",
        "temporal-server",
        "registry",
        "jaeger",
    ]
    assert done.stdout.count("stopped") == 7


def test_a_taken_broker_port_names_the_cluster_setting_that_moves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        monkeypatch.setenv("TASKFACTORY_STACK_CLUSTER_KAFKA_PORT", str(holder.getsockname()[1]))
        broker = next(c for c in _cluster(tmp_path).components if isinstance(c, KafkaBroker))
        with pytest.raises(StackError, match="TASKFACTORY_STACK_CLUSTER_KAFKA_PORT"):
            broker.up()
    assert broker.process.pid() is None
