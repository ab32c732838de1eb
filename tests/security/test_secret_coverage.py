"""Every secret-bearing setting and chart value is covered by a sentinel test.

A secret setting is a ``SecretStr`` field or a ``*_file`` field (a file holding a secret, or
key material) of any service's settings; a secret chart value is a reference to a Secret.
Adding one without listing it here, where it is fed a sentinel, fails the suite.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from helm.conftest import CHART, helm, render, run_template
from pydantic import BaseModel, SecretStr
from security.test_secret_hygiene import SENTINELS

from taskfactory_executor.settings import ExecutorSettings
from taskfactory_ingress.settings import IngressSettings
from taskfactory_orchestrator.settings import OrchestratorSettings
from taskfactory_runtime.logging import configure_logging, get_logger
from taskfactory_runtime.secrets import resolve_secret
from taskfactory_runtime.settings import ENV_PREFIX, LoggingSettings

__all__ = ["helm", "render", "run_template"]  # the chart tests' fixtures, used here too

SERVICES = (IngressSettings, OrchestratorSettings, ExecutorSettings)

#: Each secret value setting with the sentinel it is fed (test_secret_hygiene's where it has one).
VALUE_SENTINELS = {
    **SENTINELS,
    "TASKFACTORY_ADMIN__ADMIN_TOKEN": "SENTINEL-admin-token-6",
    "TASKFACTORY_ADMIN__READ_TOKEN": "SENTINEL-read-token-7",
    "TASKFACTORY_KAFKA__SCHEMA_REGISTRY_PASSWORD": "SENTINEL-registry-password-8",
    "TASKFACTORY_KAFKA__SCHEMA_REGISTRY_BEARER_TOKEN": "SENTINEL-registry-token-9",
}
#: Each ``*_file`` setting (secret files; certificates and keys are files too, not named so).
FILE_SETTINGS = {
    "TASKFACTORY_KAFKA__SASL_PASSWORD_FILE",
    "TASKFACTORY_KAFKA__SASL_OAUTH_TOKEN_FILE",
    "TASKFACTORY_KAFKA__SASL_OAUTH_CLIENT_SECRET_FILE",
    "TASKFACTORY_TEMPORAL__API_KEY_FILE",
    "TASKFACTORY_TEMPORAL__ENCRYPTION_KEYS_FILE",
    "TASKFACTORY_CODEC_SERVER__AUTH_TOKEN_FILE",
    "TASKFACTORY_ADMIN__ADMIN_TOKEN_FILE",
    "TASKFACTORY_ADMIN__READ_TOKEN_FILE",
    "TASKFACTORY_KAFKA__SCHEMA_REGISTRY_PASSWORD_FILE",
    "TASKFACTORY_KAFKA__SCHEMA_REGISTRY_BEARER_TOKEN_FILE",
}
#: Each Secret reference of the chart -> the ``*_FILE`` settings it is mounted for.
CHART_SECRET_REFS = {
    "kafka.sasl.existingSecret": {"TASKFACTORY_KAFKA__SASL_PASSWORD_FILE"},
    "kafka.sasl.oauth.clientSecretSecret": {"TASKFACTORY_KAFKA__SASL_OAUTH_CLIENT_SECRET_FILE"},
    "kafka.tls.existingSecret": set(),  # certificates: TASKFACTORY_KAFKA__SSL_*FILE
    "temporal.tls.existingSecret": set(),  # certificates: TASKFACTORY_TEMPORAL__TLS_*
    "temporal.apiKey.existingSecret": {"TASKFACTORY_TEMPORAL__API_KEY_FILE"},
    "temporal.encryption.existingSecret": {"TASKFACTORY_TEMPORAL__ENCRYPTION_KEYS_FILE"},
    "admin.tokenSecret.existingSecret": {"TASKFACTORY_ADMIN__ADMIN_TOKEN_FILE"},
    "admin.readTokenSecret.existingSecret": {"TASKFACTORY_ADMIN__READ_TOKEN_FILE"},
    "codecServer.authTokenSecret.existingSecret": {"TASKFACTORY_CODEC_SERVER__AUTH_TOKEN_FILE"},
}
# A component's own Kafka credentials (its own principal for the ACLs) mount as the shared ones.
for _where in ("componentDefaults", "components.*"):
    for _ref in ("kafka.sasl.existingSecret", "kafka.sasl.oauth.clientSecretSecret"):
        CHART_SECRET_REFS[f"{_where}.{_ref}"] = CHART_SECRET_REFS[_ref]
    CHART_SECRET_REFS[f"{_where}.kafka.tls.existingSecret"] = set()  # a client certificate


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_is_secret(arg) for arg in typing.get_args(annotation))


def _model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        for arg in typing.get_args(annotation):
            if (found := _model(arg)) is not None:
                return found
    return None


def secret_settings() -> tuple[set[str], set[str]]:
    """(SecretStr settings, ``*_file`` settings) of every service, as environment names."""
    values: set[str] = set()
    files: set[str] = set()
    for settings in SERVICES:
        for section, info in settings.model_fields.items():
            model = _model(info.annotation)
            fields = model.model_fields.items() if model else [("", info)]
            for name, field in fields:
                env = f"{ENV_PREFIX}{section}{'__' + name if name else ''}".upper()
                if _is_secret(field.annotation):
                    values.add(env)
                elif name.endswith("_file") or (not name and section.endswith("_file")):
                    files.add(env)
    return values, files


def test_every_secret_setting_is_fed_a_sentinel() -> None:
    values, files = secret_settings()
    assert values, "no SecretStr setting found: the discovery is broken"
    missing = values - VALUE_SENTINELS.keys()
    assert not missing, f"secret settings no sentinel test feeds: {sorted(missing)}"
    assert not VALUE_SENTINELS.keys() - values, "sentinels for settings that no longer exist"
    assert files == FILE_SETTINGS, (
        f"*_file settings not covered: {sorted(files - FILE_SETTINGS)}; "
        f"gone: {sorted(FILE_SETTINGS - files)}"
    )


@pytest.mark.parametrize("settings", SERVICES, ids=lambda s: s.__name__)
def test_each_secret_setting_is_read_and_never_shown(
    settings: type[BaseModel],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """Values pass then files pass: each secret is read (proved) and absent from every view."""
    configure_logging(LoggingSettings(level="DEBUG"), service="coverage")
    log = get_logger("coverage")
    read = 0
    shown: list[str] = []
    for env, sentinel in VALUE_SENTINELS.items():
        monkeypatch.setenv(env, sentinel)
    loaded = settings()
    for env, sentinel in VALUE_SENTINELS.items():
        section, name = env.removeprefix(ENV_PREFIX).lower().split("__")
        holder = getattr(loaded, section, None)
        if holder is not None and hasattr(holder, name):
            assert getattr(holder, name).get_secret_value() == sentinel, env
            read += 1
    shown += [repr(loaded), str(loaded), loaded.model_dump_json()]
    log.info("settings", settings=loaded, dumped=loaded.model_dump())
    for env in VALUE_SENTINELS:
        monkeypatch.delenv(env)

    file_sentinels = {env: f"SENTINEL-file-{i}" for i, env in enumerate(sorted(FILE_SETTINGS))}
    for env, sentinel in file_sentinels.items():
        path = tmp_path / env.lower()
        path.write_text(sentinel + "\n", encoding="utf-8")
        monkeypatch.setenv(env, str(path))
    loaded = settings()
    for env, sentinel in file_sentinels.items():
        section, name = env.removeprefix(ENV_PREFIX).lower().split("__")
        holder = getattr(loaded, section, None)
        if holder is not None and hasattr(holder, name):
            path = getattr(holder, name)
            value = name.removesuffix("_file")
            if hasattr(holder, value):
                secret = resolve_secret(getattr(holder, value), path, setting=env)
                assert secret is not None, env
                assert secret.get_secret_value() == sentinel, env
            read += 1
    shown += [repr(loaded), str(loaded), loaded.model_dump_json()]
    log.info("settings", settings=loaded, dumped=loaded.model_dump())

    captured = capfd.readouterr()
    shown += [captured.out, captured.err]
    assert read >= 5, "the settings did not take the sentinels in"
    for sentinel in [*VALUE_SENTINELS.values(), *file_sentinels.values()]:
        for text in shown:
            assert sentinel not in text, f"{sentinel} shown in: {text[:300]}"


def _secret_refs(node: dict[str, Any], path: tuple[str, ...] = ()) -> set[str]:
    """Values-schema paths naming a Secret: ``existingSecret`` and ``*SecretSecret`` strings.

    The entries of a map (``components``, its ``additionalProperties``) are the path ``*``.
    """
    out: set[str] = set()
    children = dict(node.get("properties", {}))
    if isinstance(node.get("additionalProperties"), dict):
        children["*"] = node["additionalProperties"]
    for key, child in children.items():
        here = (*path, key)
        if "properties" in child or isinstance(child.get("additionalProperties"), dict):
            out |= _secret_refs(child, here)
        elif child.get("type") == "string" and (
            key == "existingSecret" or key.endswith("SecretSecret")
        ):
            out.add(".".join(here))
    return out


def test_every_secret_reference_of_the_chart_is_covered() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    found = _secret_refs(schema)
    assert found == CHART_SECRET_REFS.keys(), (
        f"chart Secret references not covered: {sorted(found - CHART_SECRET_REFS.keys())}; "
        f"gone: {sorted(CHART_SECRET_REFS.keys() - found)}"
    )
    # What the chart mounts is a setting the sentinel tests cover.
    for ref, settings in CHART_SECRET_REFS.items():
        assert settings <= FILE_SETTINGS, ref


@pytest.mark.parametrize("ref", sorted(CHART_SECRET_REFS))
def test_a_secret_reference_renders_as_a_file_setting_never_a_value(
    render: Any, ref: str, tmp_path: Path
) -> None:
    enable = {
        "kafka.sasl.existingSecret": {"kafka": {"sasl": {"enabled": True}}},
        "kafka.sasl.oauth.clientSecretSecret": {
            "kafka": {
                "sasl": {
                    "enabled": True,
                    "mechanism": "OAUTHBEARER",
                    "oauth": {"tokenUrl": "https://idp.example/token", "clientId": "tf"},
                }
            }
        },
        "kafka.tls.existingSecret": {"kafka": {"tls": {"enabled": True}}},
        "temporal.tls.existingSecret": {"temporal": {"tls": {"enabled": True}}},
        "admin.tokenSecret.existingSecret": {"admin": {"enabled": True}},
        "admin.readTokenSecret.existingSecret": {"admin": {"enabled": True}},
        "codecServer.authTokenSecret.existingSecret": {
            "codecServer": {"enabled": True, "uiOrigins": ["https://ui.example"]},
            "temporal": {"encryption": {"existingSecret": "keys"}},
        },
    }.get("kafka." + ref.split(".kafka.")[1] if ".kafka." in ref else ref, {})
    secret_name = "sentinel-secret-name"
    values: dict[str, Any] = json.loads(json.dumps(enable))
    # Each component needs credentials: a per-component reference is given to all of them.
    for component in ("ingress", "orchestrator", "executor") if "*" in ref else ("",):
        node = values
        *parents, leaf = ref.replace("*", component).split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = secret_name
    rendered = render(values=values, tmp=tmp_path)
    names_seen: set[str] = set()
    mounted: set[str | None] = set()
    for _, spec in rendered.pod_specs():
        mounted |= {v.get("secret", {}).get("secretName") for v in spec.get("volumes", [])}
        for container in spec["containers"]:
            for env in container.get("env", []):
                names_seen.add(env["name"])
                if env["name"] in VALUE_SENTINELS:
                    assert "value" not in env, f"{ref}: {env['name']} as a value"
    assert secret_name in mounted, f"{ref}: the Secret is not mounted as files"
    assert CHART_SECRET_REFS[ref] <= names_seen, ref
