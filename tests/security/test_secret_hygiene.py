"""Sentinel secrets fed through every setting never show up in logs, errors, reprs or metrics."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, generate_latest
from pydantic import ValidationError

from taskfactory_runtime.codec import Keyring, generate_key
from taskfactory_runtime.kafka import client_kwargs
from taskfactory_runtime.logging import configure_logging, get_logger
from taskfactory_runtime.secrets import ConfigurationError, read_secret
from taskfactory_runtime.settings import LoggingSettings, ServiceSettings

KEY = generate_key()
SENTINELS = {
    "TASKFACTORY_KAFKA__SASL_PASSWORD": "SENTINEL-kafka-password-1",
    "TASKFACTORY_KAFKA__SASL_OAUTH_CLIENT_SECRET": "SENTINEL-oauth-secret-2",
    "TASKFACTORY_TEMPORAL__API_KEY": "SENTINEL-temporal-api-key-3",
    "TASKFACTORY_TEMPORAL__ENCRYPTION_KEYS": f"k1:{KEY}",
    "TASKFACTORY_CODEC_SERVER__AUTH_TOKEN": "SENTINEL-codec-token-4",
}
FILE_SECRET = "SENTINEL-from-a-file-5"


def _secrets() -> list[str]:
    return [*SENTINELS.values(), KEY, FILE_SECRET]


def test_no_sentinel_secret_reaches_logs_errors_or_metrics(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name, value in SENTINELS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TASKFACTORY_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("TASKFACTORY_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("TASKFACTORY_KAFKA__SASL_USERNAME", "svc")
    secret_file = tmp_path / "password"
    secret_file.write_text(FILE_SECRET + "\n")
    configure_logging(LoggingSettings(level="DEBUG"), service="hygiene")
    log = get_logger("hygiene")
    settings = ServiceSettings()
    outputs = [
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        str(settings.model_dump()),
    ]

    # Everything a careless caller might log: the settings, the client kwargs, nested.
    log.info("settings", settings=settings, dumped=settings.model_dump())
    log.info(
        "kafka client", kwargs=client_kwargs(settings.kafka.model_copy(update={"ssl_cafile": None}))
    )
    assert read_secret(secret_file, setting="x").get_secret_value() == FILE_SECRET
    log.info("loaded", value=FILE_SECRET, nested={"deep": [f"x{FILE_SECRET}y"]})
    # A library logging a secret in its message text, through stdlib logging.
    logging.getLogger("aiokafka").error(
        "auth with %s failed", SENTINELS["TASKFACTORY_KAFKA__SASL_PASSWORD"]
    )
    # Exceptions with tracebacks: a secret inside an exception message, and our own errors.
    try:
        raise RuntimeError(f"driver said: bad token {SENTINELS['TASKFACTORY_TEMPORAL__API_KEY']}")
    except RuntimeError:
        log.exception("connect failed")
    errors: list[Exception] = []
    for bad in (f"k1:{KEY[:-4]}", f"k1:{KEY},k1:{KEY}", KEY):
        with pytest.raises(ConfigurationError) as e:
            Keyring.parse(bad)
        errors.append(e.value)
    with pytest.raises(ValidationError) as invalid:
        ServiceSettings(
            kafka={
                "sasl_password": FILE_SECRET,
                "sasl_password_file": secret_file,
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "PLAIN",
            }
        )
    errors.append(invalid.value)
    with pytest.raises(ConfigurationError) as missing:
        read_secret(tmp_path / "absent", setting="kafka.sasl_password_file")
    errors.append(missing.value)
    for error in errors:
        log.error("configuration refused", error=str(error))
        outputs.append(str(error))
    outputs.append(generate_latest(REGISTRY).decode())

    captured = capfd.readouterr()
    outputs += [captured.out, captured.err]
    assert "connect failed" in captured.err  # logs were written
    assert "driver said" in captured.err
    for secret in _secrets():
        for text in outputs:
            assert secret not in text, f"a secret leaked into: {text[:300]}"
