"""The codec server in the chart: off by default; in examples/secure.yaml a hardened Deployment
serving the Temporal UI's origin with its token and keyring as Secret files, a Service the
ServiceMonitor leaves alone, and a NetworkPolicy admitting only codecServer.allowedFrom and
reaching nothing."""

from __future__ import annotations

import base64
import copy
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from helm.conftest import CHART, Rendered
from helm.test_chart import _notes
from temporalio.api.common.v1 import Payload, Payloads

from taskfactory_runtime.codec_server import CodecServer
from taskfactory_runtime.encryption import EncryptionCodec, generate_key
from taskfactory_runtime.settings import ServiceSettings
from taskfactory_runtime.temporal import keyring

SECURE = CHART / "examples" / "secure.yaml"
NAME = "tf-taskfactory-codec-server"
UI = "https://cloud.temporal.io"  # the Temporal Cloud UI secure.yaml's namespace is viewed in
ENABLED: dict[str, Any] = {
    "codecServer": {
        "enabled": True,
        "uiOrigins": ["https://temporal-ui.example.internal"],
        "authTokenSecret": {"existingSecret": "codec-token"},
    },
    "temporal": {"encryption": {"existingSecret": "payload-keys"}},
}


def _pod(rendered: Rendered) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pod template, its one container) of the codec server."""
    template: dict[str, Any] = rendered.one("Deployment", NAME)["spec"]["template"]
    [container] = template["spec"]["containers"]
    return template, container


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels, In/NotIn/Exists) selects pods with these labels."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        assert e["operator"] in ("In", "NotIn"), e  # the only ones the chart uses
        if (labels.get(e["key"]) in e["values"]) != (e["operator"] == "In"):
            return False
    return True


def test_the_codec_server_is_off_by_default(render: Any) -> None:
    rendered = render()
    for kind in ("Deployment", "Service", "NetworkPolicy"):
        assert NAME not in rendered.names(kind), kind
    components = {d["metadata"]["labels"].get("app.kubernetes.io/component") for d in rendered.docs}
    assert "codec-server" not in components


def test_secure_example_runs_the_codec_server_with_its_secrets_as_files(render: Any) -> None:
    template, container = _pod(render([SECURE]))
    assert container["command"] == ["taskfactory", "codec-server"]
    assert "codec-server" in {ep.name for ep in entry_points(group="taskfactory.cli")}
    assert "envFrom" not in container, "the shared config (Kafka, Temporal, OTLP) is not its"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TASKFACTORY_CODEC_SERVER__HOST"] == "0.0.0.0"
    assert env["TASKFACTORY_CODEC_SERVER__CORS_ORIGINS"] == UI
    assert env["TASKFACTORY_CODEC_SERVER__AUTH_TOKEN_FILE"] == (
        "/etc/taskfactory/codec-auth-token/token"
    )
    assert env["TASKFACTORY_TEMPORAL__ENCRYPTION_KEYS_FILE"] == (
        "/etc/taskfactory/temporal-encryption/keys"
    )
    assert not any(name.startswith(("TASKFACTORY_KAFKA", "TASKFACTORY_TRACING")) for name in env)
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    assert volumes["codec-auth-token"]["secret"] == {
        "secretName": "taskfactory-codec-token",
        "defaultMode": 0o440,
    }
    assert volumes["temporal-encryption"]["secret"] == {
        "secretName": "taskfactory-payload-keys",
        "defaultMode": 0o440,
    }
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    for path in ("/etc/taskfactory/codec-auth-token", "/etc/taskfactory/temporal-encryption"):
        assert mounts[path]["readOnly"] is True
    [port] = container["ports"]
    assert (port["name"], port["containerPort"]) == ("codec", 8888)
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/livez", "port": "codec"}, probe
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    assert template["spec"]["automountServiceAccountToken"] is False


async def test_the_rendered_environment_serves_the_ui_origin_with_the_mounted_token(
    render: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The server built from exactly the chart's variables: probe open, CORS, token, keyring."""
    _, container = _pod(render([SECURE]))
    token, key = "codec-token-from-the-secret", generate_key()
    files = {
        "/etc/taskfactory/codec-auth-token/token": token,
        "/etc/taskfactory/temporal-encryption/keys": f"k1:{key}",
    }
    for entry in container["env"]:
        value = entry["value"]
        if value in files:  # the Secret volume, here a folder of tmp_path
            local = tmp_path / value.lstrip("/")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(files[value] + "\n", encoding="utf-8")
            value = str(local)
        monkeypatch.setenv(entry["name"], value)
    settings = ServiceSettings()
    ring = keyring(settings.temporal)
    assert ring is not None, "the chart's keyring file was not read"
    codec = EncryptionCodec(ring)
    server = CodecServer(codec, settings.codec_server.model_copy(update={"port": 0}))
    await server.start()
    sealed = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b'"Ada"')])
    body = json_format.MessageToJson(Payloads(payloads=sealed))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            probe = container["readinessProbe"]["httpGet"]["path"]
            assert (await http.get(probe)).status_code == 200
            preflight = await http.options(
                "/decode", headers={"Origin": UI, "Access-Control-Request-Method": "POST"}
            )
            assert preflight.headers["Access-Control-Allow-Origin"] == UI
            other = await http.options("/decode", headers={"Origin": "https://evil.example"})
            assert "Access-Control-Allow-Origin" not in other.headers
            assert (await http.post("/decode", content=body)).status_code == 401
            opened = await http.post(
                "/decode", content=body, headers={"Authorization": f"Bearer {token}"}
            )
            assert opened.status_code == 200
            assert base64.b64decode(opened.json()["payloads"][0]["data"]) == b'"Ada"'
    finally:
        await server.stop()


def test_its_service_exposes_only_the_codec_port_which_no_scrape_targets(render: Any) -> None:
    rendered = render([SECURE])
    service = rendered.one("Service", NAME)
    assert service["spec"]["ports"] == [
        {"name": "codec", "port": 8888, "targetPort": "codec", "protocol": "TCP"}
    ]
    template, _ = _pod(rendered)
    assert _selects({"matchLabels": service["spec"]["selector"]}, template["metadata"]["labels"])


def test_its_network_policy_admits_only_allowed_from_and_denies_all_egress(render: Any) -> None:
    rendered = render([SECURE])
    template, _ = _pod(rendered)
    labels = template["metadata"]["labels"]
    policy = rendered.one("NetworkPolicy", NAME)["spec"]
    assert _selects(policy["podSelector"], labels)
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"] == [
        {
            "ports": [{"port": "codec", "protocol": "TCP"}],
            "from": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                    }
                }
            ],
        }
    ]
    assert policy["egress"] == []
    # Policies add up: no other policy of the release may open anything to the codec server.
    others = [p for p in rendered.of_kind("NetworkPolicy") if p["metadata"]["name"] != NAME]
    assert others, "the services' policies are missing"
    for other in others:
        assert not _selects(other["spec"]["podSelector"], labels), other["metadata"]["name"]
    services = [
        d["spec"]["template"]["metadata"]["labels"]
        for d in rendered.of_kind("Deployment")
        if d["metadata"]["name"] != NAME
    ]
    shared = rendered.one("NetworkPolicy", "tf-taskfactory")["spec"]["podSelector"]
    assert services
    assert all(_selects(shared, pod) for pod in services)


def test_without_allowed_from_no_peer_reaches_it(render: Any, tmp_path: Path) -> None:
    policy = render(values=ENABLED, tmp=tmp_path).one("NetworkPolicy", NAME)["spec"]
    assert policy["ingress"] == []
    assert policy["egress"] == []


def test_with_an_oidc_issuer_it_reaches_only_dns_and_the_issuers_port(
    render: Any, tmp_path: Path
) -> None:
    issuer = {"peers": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]}
    values = copy.deepcopy(ENABLED)
    values["codecServer"]["oidc"] = {
        "issuer": "https://login.example.internal:8443/realms/ops",
        "audience": "temporal-codec",
        "egressTo": issuer["peers"],
    }
    del values["codecServer"]["authTokenSecret"]  # the issuer's tokens alone are enough
    rendered = render(values=values, tmp=tmp_path)
    template, container = _pod(rendered)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TASKFACTORY_CODEC_SERVER__OIDC_ISSUER"] == (
        "https://login.example.internal:8443/realms/ops"
    )
    assert env["TASKFACTORY_CODEC_SERVER__OIDC_AUDIENCE"] == "temporal-codec"
    assert "TASKFACTORY_CODEC_SERVER__AUTH_TOKEN_FILE" not in env
    assert "codec-auth-token" not in {v["name"] for v in template["spec"]["volumes"]}
    egress = rendered.one("NetworkPolicy", NAME)["spec"]["egress"]
    assert egress == [
        {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
        {"ports": [{"port": 8443, "protocol": "TCP"}], "to": issuer["peers"]},
    ]


def test_an_oidc_issuer_without_an_audience_fails_naming_it(
    run_template: Any, tmp_path: Path
) -> None:
    values = copy.deepcopy(ENABLED)
    values["codecServer"]["oidc"] = {"issuer": "https://login.example.internal/realms/ops"}
    out = run_template(values=values, tmp=tmp_path)
    assert out.returncode != 0
    assert "codecServer.oidc.audience is required with codecServer.oidc.issuer" in out.stderr


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        (
            ("codecServer", "authTokenSecret", "existingSecret"),
            "codecServer.authTokenSecret.existingSecret is required when codecServer.enabled",
        ),
        (
            ("temporal", "encryption", "existingSecret"),
            "temporal.encryption.existingSecret is required when codecServer.enabled",
        ),
        (
            ("codecServer", "uiOrigins"),
            "codecServer.uiOrigins is required when codecServer.enabled",
        ),
    ],
    ids=["token", "keyring", "ui-origin"],
)
def test_enabled_without_what_it_needs_fails_naming_the_value(
    run_template: Any, tmp_path: Path, missing: tuple[str, ...], message: str
) -> None:
    values = copy.deepcopy(ENABLED)
    *parents, leaf = missing
    node: dict[str, Any] = values
    for key in parents:
        node = node[key]
    del node[leaf]  # back to the chart's default: "" or []
    out = run_template(values=values, tmp=tmp_path)
    assert out.returncode != 0
    assert message in out.stderr, out.stderr


def test_a_ui_origin_with_a_path_is_refused_by_the_schema(
    run_template: Any, tmp_path: Path
) -> None:
    values = {**ENABLED, "codecServer": {**ENABLED["codecServer"], "uiOrigins": [f"{UI}/ns"]}}
    out = run_template(values=values, tmp=tmp_path)
    assert out.returncode != 0
    assert "uiOrigins" in out.stderr, out.stderr


def test_notes_name_the_service_the_origin_and_the_token_secret(helm: str, tmp_path: Path) -> None:
    sets = {
        "temporal.encryption.existingSecret": "payload-keys",
        "codecServer.enabled": "true",
        "codecServer.authTokenSecret.existingSecret": "codec-token",
        "codecServer.uiOrigins": "{https://temporal-ui.example.internal}",
    }
    notes = _notes(helm, tmp_path, sets)
    assert "for the Temporal UI at https://temporal-ui.example.internal" in notes
    assert "Service tf-taskfactory-codec-server, port `codec` (8888)" in notes
    assert "admits no pod to it (codecServer.allowedFrom)" in notes
    assert "bearer token of Secret codec-token" in notes
    assert "port-forward svc/tf-taskfactory-codec-server 8888:8888" in notes
