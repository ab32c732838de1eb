"""Each component its own Kafka principal: components.<name>.kafka gives it its own credentials.

The chart README's ACL table gives the ingress, the orchestrator and the executor one principal
each; these render the chart with a SASL user, an OAuth client or a client certificate per
component and check that each Deployment mounts its own Secret, and only its own.
"""

from __future__ import annotations

from typing import Any

import pytest
from helm.conftest import CHART, Rendered

COMPONENTS = ("ingress", "orchestrator", "executor")
KAFKA_SECRETS = ("kafka-sasl", "kafka-oauth", "kafka-tls")


def _pods(rendered: Rendered) -> dict[str, dict[str, Any]]:
    """Each component's pod spec, by component (tf-taskfactory-<component>)."""
    return {
        name.removeprefix("tf-taskfactory-"): spec
        for name, spec in rendered.pod_specs()
        if name.removeprefix("tf-taskfactory-") in COMPONENTS
    }


def _env(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in spec["containers"][0].get("env", [])}


def _kafka_secrets(spec: dict[str, Any]) -> dict[str, str]:
    """Volume name -> Secret name of the pod's Kafka credential volumes."""
    return {
        v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if v["name"] in KAFKA_SECRETS
    }


def test_each_component_logs_in_with_its_own_scram_user(render: Any) -> None:
    rendered = render([CHART / "examples" / "kafka-principals.yaml"])
    pods = _pods(rendered)
    assert set(pods) == set(COMPONENTS)
    for component, spec in pods.items():
        secret = f"taskfactory-kafka-{component}"
        user = _env(spec)["TASKFACTORY_KAFKA__SASL_USERNAME"]
        assert user["valueFrom"]["secretKeyRef"] == {"name": secret, "key": "username"}
        assert _env(spec)["TASKFACTORY_KAFKA__SASL_PASSWORD_FILE"]["value"] == (
            "/etc/taskfactory/kafka-sasl/password"
        )
        # Its own Secret and the shared CA; no other component's password.
        assert _kafka_secrets(spec) == {"kafka-sasl": secret, "kafka-tls": "taskfactory-kafka-ca"}
    # The mechanism and the protocol stay shared, in the ConfigMap.
    config = rendered.one("ConfigMap", "tf-taskfactory-config")["data"]
    assert config["TASKFACTORY_KAFKA__SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert config["TASKFACTORY_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"


def test_each_component_gets_its_own_oauth_client(render: Any, tmp_path: Any) -> None:
    own = {
        c: {"kafka": {"sasl": {"oauth": {"clientId": c, "clientSecretSecret": f"oauth-{c}"}}}}
        for c in ("ingress", "executor")
    }
    values = {
        "kafka": {
            "sasl": {
                "enabled": True,
                "mechanism": "OAUTHBEARER",
                "oauth": {
                    "tokenUrl": "https://idp.example/token",
                    "clientId": "taskfactory",
                    "clientSecretSecret": "oauth-shared",
                },
            }
        },
        "components": own,
    }
    pods = _pods(render(values=values, tmp=tmp_path))
    # The orchestrator sets nothing of its own: the shared client is its default.
    expected = {"ingress": "ingress", "orchestrator": "taskfactory", "executor": "executor"}
    for component, client in expected.items():
        env = _env(pods[component])
        assert env["TASKFACTORY_KAFKA__SASL_OAUTH_CLIENT_ID"]["value"] == client
        secret = "oauth-shared" if client == "taskfactory" else f"oauth-{component}"
        assert _kafka_secrets(pods[component]) == {"kafka-oauth": secret}


def test_each_component_presents_its_own_client_certificate(render: Any, tmp_path: Any) -> None:
    values = {
        "kafka": {"tls": {"enabled": True, "existingSecret": "kafka-ca", "certKey": ""}},
        "components": {
            c: {"kafka": {"tls": {"existingSecret": f"cert-{c}", "certKey": "tls.crt"}}}
            for c in COMPONENTS
        },
    }
    pods = _pods(render(values=values, tmp=tmp_path))
    secrets = {c: _kafka_secrets(spec)["kafka-tls"] for c, spec in pods.items()}
    assert secrets == {c: f"cert-{c}" for c in COMPONENTS}
    for spec in pods.values():
        env = _env(spec)
        assert (
            env["TASKFACTORY_KAFKA__SSL_CERTFILE"]["value"] == "/etc/taskfactory/kafka-tls/tls.crt"
        )
        assert (
            env["TASKFACTORY_KAFKA__SSL_KEYFILE"]["value"] == "/etc/taskfactory/kafka-tls/tls.key"
        )


def test_the_schedules_hook_uses_the_orchestrators_credentials(render: Any) -> None:
    rendered = render(
        [CHART / "examples" / "kafka-principals.yaml"], sets={"schedulesSync.enabled": "true"}
    )
    job = next(spec for name, spec in rendered.pod_specs() if name.endswith("schedules-sync"))
    assert _kafka_secrets(job)["kafka-sasl"] == "taskfactory-kafka-orchestrator"


@pytest.mark.parametrize(
    ("own", "needs"),
    [
        ({"sasl": {"existingSecret": "s"}}, "kafka.sasl.enabled"),
        ({"tls": {"existingSecret": "c"}}, "kafka.tls.enabled"),
    ],
)
def test_own_credentials_without_the_shared_mechanism_are_one_clear_error(
    run_template: Any, tmp_path: Any, own: dict[str, Any], needs: str
) -> None:
    out = run_template(values={"components": {"executor": {"kafka": own}}}, tmp=tmp_path)
    assert out.returncode != 0
    assert f"components.executor.kafka.{next(iter(own))} needs {needs}" in out.stderr


def test_a_component_cannot_change_the_shared_mechanism(run_template: Any) -> None:
    out = run_template(sets={"components.ingress.kafka.sasl.mechanism": "PLAIN"})
    assert out.returncode != 0
    assert "additional properties 'mechanism' not allowed" in out.stderr
