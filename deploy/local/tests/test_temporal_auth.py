"""The Temporal server with JWT authorization: its configuration and the realm's permissions."""

from __future__ import annotations

import json
from pathlib import Path

from taskfactory_stack.cluster import ClusterSettings
from taskfactory_stack.keycloak import PERMISSIONS_CLAIM, SERVICES, realm
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.temporal_auth import TemporalAuthServer


async def _no_token() -> str:
    return ""


def _server(tmp_path: Path) -> TemporalAuthServer:
    return TemporalAuthServer(
        StackSettings(dir=tmp_path),
        cluster=ClusterSettings(temporal_port=27000, temporal_membership_port=28000),
        jwks_url="http://127.0.0.1:1/realms/taskfactory/protocol/openid-connect/certs",
        cert=tmp_path / "cert.pem",
        key=tmp_path / "key.pem",
        ca=tmp_path / "ca.pem",
        admin_token=_no_token,
        cache=StackSettings(dir=tmp_path / "cache"),
    )


def test_every_client_token_carries_its_temporal_permissions_as_a_json_list() -> None:
    imported = realm(
        {c: "s" for c in (*SERVICES, "admin")},
        token_seconds=30,
        permissions={"admin": ("temporal-system:admin",)},
    )
    assert imported["accessTokenLifespan"] == 30
    claims = {}
    for client in imported["clients"]:
        [mapper] = [m for m in client["protocolMappers"] if m["name"] == PERMISSIONS_CLAIM]
        assert mapper["protocolMapper"] == "oidc-hardcoded-claim-mapper"
        assert mapper["config"]["jsonType.label"] == "JSON"
        assert mapper["config"]["access.token.claim"] == "true"
        claims[client["clientId"]] = json.loads(mapper["config"]["claim.value"])
    assert claims == {
        **{s: ["default:write"] for s in SERVICES},
        "admin": ["temporal-system:admin"],
    }


def test_the_server_checks_tokens_from_the_jwks_over_tls_on_in_memory_sqlite(
    tmp_path: Path,
) -> None:
    server = _server(tmp_path)
    server.write_config()
    config = json.loads(server.config_file.read_text())  # JSON is YAML
    auth = config["global"]["authorization"]
    assert auth["jwtKeyProvider"]["keySourceURIs"] == [server.jwks_url]
    assert (auth["authorizer"], auth["claimMapper"]) == ("default", "default")
    assert auth["permissionsClaimName"] == PERMISSIONS_CLAIM
    tls = config["global"]["tls"]["frontend"]["server"]
    assert (tls["certFile"], tls["keyFile"]) == (str(server.cert), str(server.key))
    [store] = config["persistence"]["datastores"].values()
    assert store["sql"]["pluginName"] == "sqlite"
    assert store["sql"]["connectAttributes"]["mode"] == "memory"
    # The system worker needs the unauthenticated internal frontend, which must be started.
    argv, _ = server.argv()
    assert "--service=internal-frontend" in argv
    assert "internal-frontend" in config["services"]
    ports = [s["rpc"]["grpcPort"] for s in config["services"].values()]
    ports += [s["rpc"]["membershipPort"] for s in config["services"].values()]
    assert sorted([*ports, 27001]) == sorted(server.ports)  # + the frontend's HTTP port
    assert server.home == tmp_path / "cache" / "cluster" / "temporal" / "v1.32.1"
