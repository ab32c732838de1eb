"""The secured broker's rendered configuration and the Keycloak realm (no process)."""

from __future__ import annotations

from pathlib import Path

from taskfactory_stack.components import KafkaComponent
from taskfactory_stack.kafka_security import (
    AclAuthorizer,
    MtlsListener,
    OidcListener,
    SaslSslListener,
    service_acls,
)
from taskfactory_stack.keycloak import KAFKA_AUDIENCE, SERVICES, KeycloakComponent, realm
from taskfactory_stack.profiles import components
from taskfactory_stack.settings import StackSettings

JWKS = "http://127.0.0.1:8180/realms/taskfactory/protocol/openid-connect/certs"


def _broker(tmp_path: Path) -> KafkaComponent:
    keystore = tmp_path / "broker-bundle.pem"
    return KafkaComponent(
        StackSettings(dir=tmp_path / "stack", kafka_port=19000, kafka_controller_port=19001),
        sasl_ssl=SaslSslListener(
            port=19002,
            keystore=keystore,
            users={"ingress": 'pa"ss\\word'},
            mechanisms=("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
        ),
        additions=(
            MtlsListener(port=19003, keystore=keystore, truststore=tmp_path / "ca.pem"),
            OidcListener(
                port=19004,
                keystore=keystore,
                jwks_url=JWKS,
                issuer="http://127.0.0.1:8180/realms/taskfactory",
                audience=KAFKA_AUDIENCE,
            ),
            AclAuthorizer(super_users=("svc",)),
        ),
    )


def _properties(text: str) -> dict[str, str]:
    lines = text.splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_every_listener_is_rendered_beside_plaintext_with_its_security(tmp_path: Path) -> None:
    kafka = _broker(tmp_path)
    assert kafka.ports == (19000, 19001, 19002, 19003, 19004)
    props = _properties(kafka._config().read_text())
    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:19000,OIDC://127.0.0.1:19004,MTLS://127.0.0.1:19003,"
        "SASL_SSL://127.0.0.1:19002,CONTROLLER://127.0.0.1:19001"
    )
    assert props["listener.security.protocol.map"].endswith(
        ",SASL_SSL:SASL_SSL,MTLS:SSL,OIDC:SASL_SSL"
    )
    assert props["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == (
        "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
    )
    # A PLAIN password is a JAAS string: its quote and backslash are escaped.
    assert props["listener.name.sasl_ssl.plain.sasl.jaas.config"].endswith(
        'PlainLoginModule required user_ingress="pa\\"ss\\\\word";'
    )
    assert props["listener.name.mtls.ssl.client.auth"] == "required"
    assert props["sasl.oauthbearer.jwks.endpoint.url"] == JWKS
    assert props["sasl.oauthbearer.expected.audience"] == KAFKA_AUDIENCE
    assert props["sasl.oauthbearer.sub.claim.name"] == "azp"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:ANONYMOUS;User:svc"
    # Kafka 4 fetches the JWKS only from an allowed URL.
    assert f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={JWKS}" in kafka._java()


def test_scram_users_are_made_for_each_scram_mechanism_only(tmp_path: Path) -> None:
    listener = _broker(tmp_path).sasl_ssl
    assert listener is not None
    assert listener.scram_arguments() == [
        "--add-scram",
        'SCRAM-SHA-256=[name=ingress,password=pa"ss\\word]',
        "--add-scram",
        'SCRAM-SHA-512=[name=ingress,password=pa"ss\\word]',
    ]


def test_each_service_is_granted_only_its_own_topics_and_group() -> None:
    acls = service_acls(events="e", dead_letter="d", results="r", runs="u", group="g")
    grants = {
        (principal, kind, name, operation)
        for acl in acls
        for principal in acl.principals
        for kind, names in (("topic", acl.topics), ("group", acl.groups))
        for name in names
        for operation in acl.operations
    }
    ingress = {g[1:] for g in grants if g[0] == "ingress"}
    assert ingress == {
        ("topic", "e", "Read"),
        ("topic", "e", "Describe"),
        ("group", "g", "Read"),
        ("group", "g", "Describe"),
        ("topic", "d", "Write"),
        ("topic", "d", "Describe"),
    }
    for publisher in ("orchestrator", "executor"):
        mine = {g[1:] for g in grants if g[0] == publisher}
        assert mine == {
            ("topic", t, op) for t in ("r", "u") for op in ("Read", "Write", "Describe")
        }


def test_the_realm_has_a_confidential_service_account_client_per_service() -> None:
    imported = realm({s: f"secret-{s}" for s in SERVICES})
    assert imported["realm"] == "taskfactory"
    [scope] = imported["clientScopes"]
    [audience] = scope["protocolMappers"]
    assert audience["config"]["included.custom.audience"] == KAFKA_AUDIENCE
    clients = {c["clientId"]: c for c in imported["clients"]}
    assert set(clients) == set(SERVICES)
    for name, client in clients.items():
        assert client["secret"] == f"secret-{name}"
        assert client["serviceAccountsEnabled"] is True
        assert client["publicClient"] is False
        assert client["standardFlowEnabled"] is False  # client credentials only
        assert client["defaultClientScopes"] == [scope["name"]]


def test_keycloak_joins_the_stack_only_when_asked(tmp_path: Path) -> None:
    off = components(StackSettings(dir=tmp_path))
    on = components(StackSettings(dir=tmp_path, keycloak=True, keycloak_port=18180))
    assert "keycloak" not in [c.name for c in off]
    [keycloak] = [c for c in on if isinstance(c, KeycloakComponent)]
    assert keycloak.token_url == (
        "http://127.0.0.1:18180/realms/taskfactory/protocol/openid-connect/token"
    )
