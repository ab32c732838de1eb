"""Sentinel secrets fed through every setting never show up in logs, errors, reprs or metrics."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka.abc import AbstractTokenProvider
from helm.conftest import CHART, helm, render, run_template
from prometheus_client import REGISTRY, generate_latest
from pydantic import ValidationError
from support.secure_kafka import PASSWORD, SecureBroker

from taskfactory_orchestrator.settings import OrchestratorSettings
from taskfactory_runtime import secrets as secrets_module
from taskfactory_runtime.encryption import Keyring, generate_key
from taskfactory_runtime.errors import ConfigurationError
from taskfactory_runtime.kafka import client_kwargs
from taskfactory_runtime.logging import configure_logging, get_logger
from taskfactory_runtime.oauth import token_provider
from taskfactory_runtime.secrets import known_secrets, read_secret
from taskfactory_runtime.settings import KafkaSettings, LoggingSettings, ServiceSettings
from taskfactory_stack.stack import Stack

__all__ = ["helm", "render", "run_template"]  # the chart tests' fixtures, used here too

ROOT = Path(__file__).resolve().parents[2]

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


def _sentinel_env(tmp_path: Path) -> dict[str, str]:
    secret_file = tmp_path / "password"
    secret_file.write_text(FILE_SECRET + "\n")
    return {
        **os.environ,
        **SENTINELS,
        "TASKFACTORY_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "TASKFACTORY_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
        "TASKFACTORY_KAFKA__SASL_USERNAME": "svc",
        "TASKFACTORY_ADMIN__ADMIN_TOKEN_FILE": str(secret_file),
    }


# Commands that read the secret settings, and what their output shows only if they did.
SECRET_READING_COMMANDS: dict[str, tuple[list[str], str, dict[str, str]]] = {
    # The API key makes the client speak TLS to the plaintext dev server: refused, naming TLS
    # and the key.
    "schedules list": (["schedules", "list"], "(namespace default, TLS, API key)", {}),
    # The password and its file both given: refused, naming both settings (pydantic would
    # echo the start of the password here, were inputs not hidden from its errors).
    "dlq list": (
        ["dlq", "list"],
        "set sasl_password or sasl_password_file, not both",
        {"TASKFACTORY_KAFKA__SASL_PASSWORD_FILE": "password"},
    ),
}


@pytest.mark.integration
@pytest.mark.parametrize("command", SECRET_READING_COMMANDS)
def test_stack_status_output_holds_no_secret(tmp_path: Path, command: str) -> None:
    """`taskfactory` commands that read every secret setting fail on them without echoing one.

    (`taskfactory-stack status` reads none of these settings; these commands do, and the
    assertion on their message proves the secrets were read.)
    """
    args, proof, files = SECRET_READING_COMMANDS[command]
    env = {
        **_sentinel_env(tmp_path),
        **{name: str(tmp_path / file) for name, file in files.items()},
        "TASKFACTORY_KAFKA__REQUEST_TIMEOUT_MS": "5000",
    }
    done = subprocess.run(
        [sys.executable, "-m", "taskfactory_runtime.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert proof in " ".join(output.split()), output
    for secret in _secrets():
        assert secret not in output
    # Not even a prefix: pydantic abbreviates a refused input to its first characters.
    assert "SENTIN" not in output, output


@pytest.mark.integration
@pytest.mark.slow
def test_the_secure_brokers_config_log_and_status_hold_no_password(broker: SecureBroker) -> None:
    """The SCRAM password is stored hashed in the broker's metadata, nowhere in clear text."""
    component = broker.component
    rows = Stack(component.settings).status()
    kafka = next(row for row in rows if row.name == "kafka")
    assert kafka.health == "healthy"
    texts = {
        "status": "\n".join(repr(row) for row in rows),
        "component": repr(component),
        "server.properties": (component.conf / "server.properties").read_text(),
        "broker log": component.process.log_file.read_text(errors="replace"),
    }
    for where, text in texts.items():
        assert PASSWORD not in text, f"the SCRAM password is in the {where}"


# Every security option of the chart on; secrets are only ever Secret names and keys.
SECURE_EXAMPLES = [
    CHART / "examples" / "kafka-sasl-tls.yaml",
    CHART / "examples" / "kafka-principals.yaml",  # a Kafka Secret per component
    CHART / "examples" / "secure.yaml",
]
SECRET_KEYS = [
    "kafka.sasl.password",
    "kafka.sasl.username",
    "kafka.sasl.oauth.clientSecret",
    "kafka.sasl.oauth.token",
    "temporal.apiKey.value",
    "temporal.tls.clientKey",
    "temporal.encryption.keys",
    "codecServer.authToken",
    # A component's own Kafka credentials are Secret references too, never values.
    "components.ingress.kafka.sasl.password",
    "components.orchestrator.kafka.sasl.oauth.clientSecret",
    "components.executor.kafka.tls.clientKey",
    "componentDefaults.kafka.sasl.password",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_a_sentinel_secret_in_helm_values_never_reaches_rendered_output(
    run_template: Any, tmp_path: Path, key: str
) -> None:
    """Secret values cannot be given to the chart, and helm's refusal does not echo them."""
    sentinel = SENTINELS["TASKFACTORY_KAFKA__SASL_PASSWORD"]
    out = run_template(SECURE_EXAMPLES[-1:], sets={key: sentinel})
    assert out.returncode != 0, f"{key} was accepted"
    assert sentinel not in out.stdout + out.stderr


# Where a values file can put free text into a pod's environment.
ENV_LISTS = ("extraEnv", "componentDefaults.extraEnv", "components.executor.extraEnv")


def _at(path: str, value: Any) -> dict[str, Any]:
    doc: Any = value
    for key in reversed(path.split(".")):
        doc = {key: doc}
    return dict(doc)


@pytest.mark.parametrize("values", SECURE_EXAMPLES, ids=lambda p: p.stem)
def test_rendered_manifests_with_every_security_option_hold_no_secret(
    render: Any, run_template: Any, values: Path, tmp_path: Path
) -> None:
    # Every sentinel handed to helm under its own setting's name as a plain variable, the
    # one way a values file can carry a secret into a manifest: refused, and never echoed.
    for name, sentinel in SENTINELS.items():
        for where in ENV_LISTS:
            overlay = _at(where, [{"name": name, "value": sentinel}])
            out = run_template([values], values=overlay, tmp=tmp_path)
            assert out.returncode != 0, f"{where}: {name} with a plain value was rendered"
            assert f"/{where.split('.')[-1]}/0/value" in out.stderr, out.stderr
            assert sentinel not in out.stdout + out.stderr
    # From a Secret it is fine: only the Secret's name and key are in the manifest.
    by_ref = {
        "name": "TASKFACTORY_KAFKA__SASL_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
    }
    assert run_template([values], values=_at("extraEnv", [by_ref]), tmp=tmp_path).returncode == 0

    rendered = render([values])
    text = yaml.safe_dump_all(rendered.docs)
    assert "Secret" not in rendered.kinds(), "the chart must not create Secrets"
    for secret in _secrets():
        assert secret not in text
    # No variable carries a secret value: secrets are files of Secret volumes (or refs).
    for name, spec in rendered.pod_specs():
        for container in spec["containers"]:
            for env in container.get("env", []):
                if any(
                    s in env["name"] for s in ("PASSWORD", "SECRET", "API_KEY", "TOKEN", "KEYS")
                ):
                    assert env["name"].endswith("_FILE"), f"{name}: {env['name']}"
                    assert env["value"].startswith("/etc/taskfactory/"), f"{name}: {env['name']}"
    config = rendered.one("ConfigMap", "tf-taskfactory-config")["data"]
    assert not [k for k in config if "PASSWORD" in k or "API_KEY" in k or k.endswith("_KEYS")]


# ---- secrets registered at start, and settings errors that never echo them --------------------
SHORT = "Zq9"  # a short secret is still a secret


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """This test's registrations stay out of the others' (short values would scrub theirs)."""
    monkeypatch.setattr(secrets_module, "_KNOWN", set())


class _StaticTokens(AbstractTokenProvider):  # type: ignore[misc]
    async def token(self) -> str:
        return "SENTINEL-oauth-access-token-6"


def static_tokens(_: KafkaSettings) -> AbstractTokenProvider:
    """A token-provider plugin (``module:callable``) handing out one access token."""
    return _StaticTokens()


def test_every_secret_of_every_section_is_registered_at_start_short_ones_too(
    fresh_registry: None, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    read_file = tmp_path / "read-token"
    read_file.write_text("SENTINEL-read-token-7\n")
    alice_file = tmp_path / "alice"
    alice_file.write_text("SENTINEL-alice-8\n")
    settings = OrchestratorSettings(
        admin={
            "admin_token": SHORT,
            "read_token_file": read_file,
            "principals": [
                {"name": "alice", "scope": "approve", "token_file": alice_file},
                {"name": "bob", "token": "b0b"},
            ],
        },
        temporal={"api_key": "k3y"},
    )
    assert settings.admin.principals[0].name == "alice"
    # Nothing has used a token yet: registration happened when the settings were built.
    expected = {SHORT, "SENTINEL-read-token-7", "SENTINEL-alice-8", "b0b", "k3y"}
    assert expected <= known_secrets()

    configure_logging(LoggingSettings(level="INFO"), service="hygiene")
    get_logger("hygiene").error(
        "a library echoed them", detail=" ".join(sorted(expected)), also=f"x{SHORT}y"
    )
    err = capfd.readouterr().err
    assert "a library echoed them" in err
    for secret in expected:
        assert secret not in err


async def test_oauth_access_tokens_are_registered_as_they_are_handed_out(
    fresh_registry: None,
) -> None:
    settings = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER",
        sasl_oauth_token_provider=f"{__name__}:static_tokens",
    )
    provider = token_provider(settings)
    token = await provider.token()
    assert token == "SENTINEL-oauth-access-token-6"
    assert token in known_secrets()


@pytest.mark.parametrize(
    "service", ["taskfactory_orchestrator", "taskfactory_ingress", "taskfactory_executor"]
)
def test_a_refused_setting_at_start_never_prints_a_secret(service: str, tmp_path: Path) -> None:
    """Both the key and its file set: refused, and the error names the fix, not the value."""
    key = "SENTINEL-k9"
    env = {
        **os.environ,
        "TASKFACTORY_TEMPORAL__API_KEY": key,
        "TASKFACTORY_TEMPORAL__API_KEY_FILE": str(tmp_path / "key"),
        "TASKFACTORY_KAFKA__SASL_PASSWORD": SHORT,
        "TASKFACTORY_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
    }
    done = subprocess.run(
        [sys.executable, "-m", service],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "set api_key or api_key_file, not both" in done.stderr
    assert "needs TASKFACTORY_KAFKA__SASL_MECHANISM" in done.stderr
    assert key not in done.stdout + done.stderr
    assert f"'{SHORT}'" not in done.stdout + done.stderr
