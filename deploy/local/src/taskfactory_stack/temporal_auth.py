"""A Temporal server that checks bearer tokens: the cluster profile's binary, on in-memory SQLite.

The frontend speaks TLS (the SDKs send API keys only over TLS) and runs Temporal's default JWT
claim mapper and authorizer: a request's ``Authorization: Bearer <JWT>`` must be signed by a
key from ``jwks_url`` and carry a ``permissions`` claim such as ``["default:write"]``. The
server's own worker service reaches the history through an internal frontend, which checks
nothing and listens on loopback only (as in the server's ``development-jwt.yaml``).
Persistence and visibility are one in-memory SQLite database whose schema the server sets up
at start, so nothing but the binary is needed and nothing outlives the process.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from taskfactory_stack.cluster import cluster_stack_settings
from taskfactory_stack.component import packaged_file
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.temporal_server import TemporalServerComponent

if TYPE_CHECKING:
    from temporalio.client import Client

__all__ = ["TemporalAuthServer"]

_SERVICES = ("frontend", "internal-frontend", "history", "matching", "worker")

_SQLITE = {
    "sql": {
        "pluginName": "sqlite",
        "databaseName": "default",
        "connectAddr": "localhost",
        "connectProtocol": "tcp",
        "connectAttributes": {"mode": "memory", "cache": "private"},
        "maxConns": 1,
        "maxIdleConns": 1,
        "maxConnLifetime": "1h",
    }
}


@dataclass(kw_only=True)
class TemporalAuthServer(TemporalServerComponent):
    """Frontend (TLS + JWT authorization), internal frontend, history, matching and worker."""

    name: str = "temporal-auth"
    services: ClassVar[tuple[str, ...]] = _SERVICES
    #: Where the signing keys of valid tokens are published (an OpenID provider's JWKS).
    jwks_url: str
    #: The frontend's TLS certificate and private key (PEM files).
    cert: Path
    key: Path
    #: A token with ``temporal-system:admin``, for registering the namespace.
    admin_token: Callable[[], Awaitable[str]]
    #: The CA that signed ``cert`` (what the stack's own client trusts).
    ca: Path
    #: Where the binaries are cached: the cluster profile's, so one build serves both.
    cache: StackSettings = field(default_factory=StackSettings)

    @property
    def home(self) -> Path:
        return cluster_stack_settings(self.cache).root / "temporal" / self.cluster.temporal_version

    @property
    def config_file(self) -> Path:
        return self.settings.root / "temporal-auth" / "config.yaml"

    @property
    def extra(self) -> str:
        return f"JWT authorization (keys from {self.jwks_url}), TLS, in-memory SQLite"

    def config(self) -> dict[str, Any]:
        """The server configuration (JSON is YAML, which the server reads)."""
        grpc, member = self.cluster.temporal_port, self.cluster.temporal_membership_port
        dynamic = self.config_file.with_name("dynamic.yaml")

        def rpc(port: int, membership: int) -> dict[str, Any]:
            return {
                "rpc": {"grpcPort": port, "membershipPort": membership, "bindOnLocalHost": True}
            }

        frontend = rpc(grpc, member)
        frontend["rpc"]["httpPort"] = grpc + 1
        return {
            "log": {"stdout": True, "level": "warn"},
            "persistence": {
                "defaultStore": "sqlite-default",
                "visibilityStore": "sqlite-default",
                "numHistoryShards": 1,
                "datastores": {"sqlite-default": _SQLITE},
            },
            "global": {
                "membership": {"maxJoinDuration": "30s", "broadcastAddress": "127.0.0.1"},
                "tls": {
                    "frontend": {
                        "server": {
                            "certFile": str(self.cert),
                            "keyFile": str(self.key),
                            "requireClientAuth": False,
                        },
                    }
                },
                "authorization": {
                    "jwtKeyProvider": {
                        "keySourceURIs": [self.jwks_url],
                        "refreshInterval": "1m",
                    },
                    "permissionsClaimName": "permissions",
                    "authorizer": "default",
                    "claimMapper": "default",
                },
            },
            "services": {
                "frontend": frontend,
                "history": rpc(grpc + 2, member + 1),
                "matching": rpc(grpc + 3, member + 2),
                "worker": rpc(grpc + 4, member + 3),
                "internal-frontend": rpc(grpc + 5, member + 4),
            },
            "clusterMetadata": {
                "enableGlobalNamespace": False,
                "failoverVersionIncrement": 10,
                "masterClusterName": "active",
                "currentClusterName": "active",
                "clusterInformation": {
                    "active": {
                        "enabled": True,
                        "initialFailoverVersion": 1,
                        "rpcName": "frontend",
                        "rpcAddress": f"127.0.0.1:{grpc}",
                    }
                },
            },
            "dcRedirectionPolicy": {"policy": "noop"},
            "archival": {"history": {"state": "disabled"}, "visibility": {"state": "disabled"}},
            "namespaceDefaults": {
                "archival": {
                    "history": {"state": "disabled"},
                    "visibility": {"state": "disabled"},
                }
            },
            "dynamicConfigClient": {"filepath": str(dynamic), "pollInterval": "10s"},
        }

    def write_config(self) -> None:
        """Render the configuration and the cluster profile's dynamic configuration."""
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        self.config_file.with_name("dynamic.yaml").write_text(
            packaged_file("cluster-temporal-dynamic.yaml")
        )
        self.config_file.write_text(json.dumps(self.config(), indent=2))

    def setup_schema(self) -> None:
        """Nothing to do: the in-memory SQLite database gets its schema at server start."""

    def start_args(self) -> list[str]:
        # Authorization on; the internal frontend is not among the default services.
        return ["start", *(f"--service={s}" for s in self.services)]

    async def connect(self) -> Client:
        """A client over TLS with the admin token as its API key."""
        from temporalio.client import Client
        from temporalio.service import TLSConfig

        return await Client.connect(
            self.address,
            namespace=self.cluster.namespace,
            tls=TLSConfig(server_root_ca_cert=self.ca.read_bytes()),
            api_key=await self.admin_token(),
        )
