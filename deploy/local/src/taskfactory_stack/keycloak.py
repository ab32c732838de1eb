"""Keycloak, an OAuth 2 / OpenID Connect server, with a realm for taskfactory's services.

The server distribution (``org.keycloak:keycloak-quarkus-dist``, a zip on Maven Central) is
fetched and built once (``kc.sh build --db=dev-file``) into the stack's cache. Each stack gets
its own Keycloak home beside that build (the realm file, the dev-file database), so several
stacks can share one cached build. The realm ``taskfactory`` is imported at start: one
confidential client per service with the client-credentials grant, whose tokens carry
``azp`` = the client id, the audience ``kafka`` and the scope ``kafka``. Each client's secret
is generated once and kept in ``<dir>/keycloak/secrets/<client>`` (mode 0600), the file a
service's ``TASKFACTORY_KAFKA__SASL_OAUTH_CLIENT_SECRET_FILE`` names.

Each client's tokens also carry Temporal's ``permissions`` claim (``<namespace>:<role>``, what
the Temporal server's default JWT claim mapper reads), so the same tokens serve as Temporal
API keys.
"""

from __future__ import annotations

import json
import os
import secrets
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from taskfactory_stack.component import Component
from taskfactory_stack.maven import cache_root, copy_dependencies, pom
from taskfactory_stack.process import run_tool
from taskfactory_stack.settings import StackSettings

__all__ = [
    "KAFKA_AUDIENCE",
    "KAFKA_SCOPE",
    "PERMISSIONS_CLAIM",
    "REALM",
    "SERVICES",
    "KeycloakComponent",
    "ensure_keycloak",
]

REALM = "taskfactory"
#: One client per service; its id is the service's Kafka principal (the token's ``azp``).
SERVICES = ("ingress", "orchestrator", "executor")
KAFKA_AUDIENCE = "kafka"
KAFKA_SCOPE = "kafka"
#: The claim Temporal's default claim mapper reads (``global.authorization.permissionsClaimName``).
PERMISSIONS_CLAIM = "permissions"
#: What a service may do in Temporal: start and signal runs, poll its task queue.
SERVICE_PERMISSIONS = ("default:write",)


def _dist(settings: StackSettings) -> Path:
    version = settings.keycloak_version
    return cache_root(settings) / "keycloak" / version / f"keycloak-{version}"


def ensure_keycloak(settings: StackSettings) -> Path:
    """The built Keycloak distribution (fetched with ``mvn`` and built the first time)."""
    dist = _dist(settings)
    marker = dist / ".built"
    if marker.exists():
        return dist
    home = dist.parent
    version = settings.keycloak_version
    zip_file = home / f"keycloak-quarkus-dist-{version}.zip"
    if not zip_file.exists():
        print(f"keycloak: fetching Keycloak {version} from Maven Central with mvn …", flush=True)
        copy_dependencies(
            "keycloak",
            pom("keycloak-quarkus-dist", version=version, group="org.keycloak", kind="zip"),
            home,
            home,
            "-DexcludeTransitive=true",
        )
    with zipfile.ZipFile(zip_file) as archive:
        archive.extractall(home)
    for script in (dist / "bin").glob("*.sh"):
        script.chmod(0o755)
    print("keycloak: building the server (dev-file database) …", flush=True)
    # The build step (Quarkus augmentation) fixes the database kind; every start is --optimized.
    run_tool(
        [str(dist / "bin" / "kc.sh"), "build", "--db=dev-file"],
        "keycloak: `kc.sh build` failed",
        env={**os.environ, "JAVA_OPTS_KC_HEAP": f"-Xmx{settings.keycloak_heap}"},
    )
    zip_file.unlink()
    marker.write_text(version)
    return dist


def _permissions(values: tuple[str, ...]) -> dict[str, Any]:
    """A hardcoded ``permissions`` claim: a JSON list, as Temporal's claim mapper wants it."""
    return {
        "name": PERMISSIONS_CLAIM,
        "protocol": "openid-connect",
        "protocolMapper": "oidc-hardcoded-claim-mapper",
        "config": {
            "claim.name": PERMISSIONS_CLAIM,
            "claim.value": json.dumps(list(values)),
            "jsonType.label": "JSON",
            "access.token.claim": "true",
            "id.token.claim": "false",
            "introspection.token.claim": "true",
        },
    }


def realm(
    secrets_by_client: dict[str, str],
    *,
    token_seconds: int = 300,
    permissions: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """The realm import: a ``kafka`` client scope and one service-account client per service.

    ``permissions``: each client's Temporal permissions (default :data:`SERVICE_PERMISSIONS`).
    """
    permissions = permissions or {}
    audience = {
        "name": "kafka-audience",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-audience-mapper",
        "config": {
            "included.custom.audience": KAFKA_AUDIENCE,
            "access.token.claim": "true",
            "id.token.claim": "false",
            "introspection.token.claim": "true",
        },
    }
    clients = [
        {
            "clientId": client,
            "enabled": True,
            "protocol": "openid-connect",
            "publicClient": False,
            "clientAuthenticatorType": "client-secret",
            "secret": secret,
            "serviceAccountsEnabled": True,
            "standardFlowEnabled": False,
            "directAccessGrantsEnabled": False,
            "defaultClientScopes": [KAFKA_SCOPE],
            "optionalClientScopes": [],
            "protocolMappers": [_permissions(permissions.get(client, SERVICE_PERMISSIONS))],
        }
        for client, secret in secrets_by_client.items()
    ]
    return {
        "realm": REALM,
        "enabled": True,
        "sslRequired": "external",
        "accessTokenLifespan": token_seconds,
        "clientScopes": [
            {
                "name": KAFKA_SCOPE,
                "protocol": "openid-connect",
                "attributes": {"include.in.token.scope": "true"},
                "protocolMappers": [audience],
            }
        ],
        "clients": clients,
    }


@dataclass
class KeycloakComponent(Component):
    """Keycloak on a loopback HTTP port with the ``taskfactory`` realm."""

    name: str = "keycloak"
    #: Client ids of the realm; each gets a generated secret.
    clients: tuple[str, ...] = field(default=SERVICES)
    #: Temporal permissions of clients that need other than :data:`SERVICE_PERMISSIONS`.
    permissions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Access-token lifespan of the realm.
    token_seconds: int = 300

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.keycloak_port,)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://{self.address}"

    @property
    def issuer(self) -> str:
        """The realm's issuer (``iss`` of its tokens)."""
        return f"{self.url}/realms/{REALM}"

    @property
    def token_url(self) -> str:
        """The realm's token endpoint (client credentials)."""
        return f"{self.issuer}/protocol/openid-connect/token"

    @property
    def jwks_url(self) -> str:
        """The realm's signing keys (JWKS), which a broker validates tokens with."""
        return f"{self.issuer}/protocol/openid-connect/certs"

    @property
    def extra(self) -> str:
        return f"realm {REALM}, token endpoint {self.token_url}"

    @property
    def home(self) -> Path:
        """This stack's Keycloak home: realm import and dev-file database."""
        return self.settings.root / "keycloak"

    def secret_file(self, client: str) -> Path:
        """The file holding ``client``'s secret."""
        return self.home / "secrets" / client

    def _secrets(self) -> dict[str, str]:
        out = {}
        for client in self.clients:
            path = self.secret_file(client)
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch(mode=0o600)
                path.write_text(secrets.token_urlsafe(24) + "\n")
            out[client] = path.read_text().strip()
        return out

    def prepare(self) -> None:
        dist = ensure_keycloak(self.settings)
        imports = self.home / "data" / "import"
        imports.mkdir(parents=True, exist_ok=True)
        realm_file = imports / f"{REALM}-realm.json"
        realm_file.touch(mode=0o600)
        realm_file.write_text(
            json.dumps(
                realm(
                    self._secrets(),
                    token_seconds=self.token_seconds,
                    permissions=self.permissions,
                ),
                indent=2,
            )
        )
        # The build lives in the shared distribution; only data is this stack's own.
        (self.home / "providers").mkdir(exist_ok=True)
        lib = self.home / "lib"
        if not lib.is_symlink() or lib.resolve() != (dist / "lib").resolve():
            lib.unlink(missing_ok=True)
            lib.symlink_to(dist / "lib", target_is_directory=True)

    def argv(self) -> tuple[list[str], dict[str, str]]:
        port = self.settings.keycloak_port
        env = {**os.environ, "JAVA_OPTS_KC_HEAP": f"-Xms64m -Xmx{self.settings.keycloak_heap}"}
        argv = [
            str(_dist(self.settings) / "bin" / "kc.sh"),
            # Later -D wins: this stack's home instead of the shared distribution's.
            f"-Dkc.home.dir={self.home}",
            "start",
            "--optimized",
            "--import-realm",
            "--http-enabled=true",
            "--http-host=127.0.0.1",
            f"--http-port={port}",
            f"--hostname={self.url}",
        ]
        return argv, env

    async def probe(self) -> str | None:
        url = f"{self.issuer}/.well-known/openid-configuration"
        try:
            async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
                document: Any = (await http.get(url)).raise_for_status().json()
        except (httpx.HTTPError, ValueError) as exc:  # any failure means "not ready yet"
            return f"{type(exc).__name__}: {exc}"
        if not isinstance(document, dict):
            return f"realm {REALM} answers with a discovery document that is not an object"
        if document.get("issuer") != self.issuer:
            return f"realm {REALM} answers with issuer {document.get('issuer')!r}"
        return None
