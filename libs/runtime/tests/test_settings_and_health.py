"""Settings come from TASKFACTORY_* variables; the health server answers probes and metrics."""

from __future__ import annotations

import httpx
import pytest

from taskfactory_runtime.errors import ConfigurationError
from taskfactory_runtime.health import HealthServer
from taskfactory_runtime.kafka import client_kwargs
from taskfactory_runtime.settings import HttpSettings, ServiceSettings


def test_nested_settings_come_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKFACTORY_KAFKA__BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("TASKFACTORY_TEMPORAL__NAMESPACE", "payments")
    monkeypatch.setenv("TASKFACTORY_KAFKA__SASL_PASSWORD", "hunter2")
    settings = ServiceSettings()
    assert settings.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert settings.temporal.namespace == "payments"
    assert "hunter2" not in repr(settings)


def test_an_invalid_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKFACTORY_KAFKA__SECURITY_PROTOCOL", "CARRIER_PIGEON")
    with pytest.raises(ValueError, match=r"kafka\.security_protocol"):
        ServiceSettings()


def test_sasl_settings_reach_the_kafka_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKFACTORY_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("TASKFACTORY_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("TASKFACTORY_KAFKA__SASL_USERNAME", "svc")
    monkeypatch.setenv("TASKFACTORY_KAFKA__SASL_PASSWORD", "s3cret")
    kwargs = client_kwargs(ServiceSettings().kafka)
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "svc"
    assert kwargs["sasl_plain_password"] == "s3cret"


async def test_readiness_follows_its_checks_and_metrics_are_served() -> None:
    server = HealthServer(HttpSettings(host="127.0.0.1", port=0))
    state: dict[str, str | None] = {"kafka": "no partition assigned yet"}
    server.add_check("kafka", lambda: state["kafka"])
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            assert (await http.get("/livez")).status_code == 200
            not_ready = await http.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["checks"] == {"kafka": "no partition assigned yet"}
            state["kafka"] = None
            assert (await http.get("/readyz")).status_code == 200
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200
            assert "python_info" in metrics.text
    finally:
        await server.stop()


async def test_a_taken_port_is_a_configuration_error_naming_the_address_and_the_setting() -> None:
    first = HealthServer(HttpSettings(host="127.0.0.1", port=0))
    await first.start()
    try:
        second = HealthServer(HttpSettings(host="127.0.0.1", port=first.port))
        with pytest.raises(ConfigurationError, match=r"127\.0\.0\.1:\d+ \(.*in use\).*HTTP__PORT"):
            await second.start()
    finally:
        await first.stop()
