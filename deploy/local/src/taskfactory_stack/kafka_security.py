"""More of a secured broker: an mTLS listener, an OIDC listener (signed tokens checked against
an identity provider's JWKS) and the KRaft ACL authorizer, each added to a
:class:`~taskfactory_stack.components.KafkaComponent` through its ``additions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = [
    "Acl",
    "AclAuthorizer",
    "BrokerAddition",
    "Listener",
    "MtlsListener",
    "OidcListener",
    "service_acls",
]


@dataclass(frozen=True)
class Listener:
    """A listener beside PLAINTEXT: its name, security protocol and loopback address."""

    name: str
    protocol: str
    address: str


class BrokerAddition(Protocol):
    """Something the broker is started with: maybe a listener, its settings, JVM options."""

    def ports(self) -> tuple[int, ...]:
        """Loopback ports it binds."""

    def listener(self) -> Listener | None:
        """The listener it adds, if any."""

    def properties(self) -> str:
        """Lines for server.properties."""

    def jvm_options(self) -> tuple[str, ...]:
        """Options of the broker's JVM (system properties)."""


def _keystore(name: str, keystore: Path) -> list[str]:
    return [
        f"listener.name.{name}.ssl.keystore.type=PEM",
        f"listener.name.{name}.ssl.keystore.location={keystore.resolve()}",
    ]


@dataclass(frozen=True)
class _TlsListener:
    """A TLS listener on a loopback port; ``keystore`` holds its key and certificate chain."""

    port: int
    keystore: Path

    @property
    def address(self) -> str:
        """Where clients reach the listener."""
        return f"127.0.0.1:{self.port}"

    def ports(self) -> tuple[int, ...]:
        return (self.port,)

    def jvm_options(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class MtlsListener(_TlsListener):
    """An SSL listener (named MTLS) that requires a client certificate signed by ``truststore``.

    The principal is the certificate's common name (``CN=ingress,O=…`` → ``User:ingress``),
    so ACLs name the same principals as the SASL listeners'.
    """

    truststore: Path

    def listener(self) -> Listener:
        return Listener("MTLS", "SSL", self.address)

    def properties(self) -> str:
        return "\n".join(
            [
                "# An SSL listener requiring client certificates; principal = the cert's CN.",
                "listener.name.mtls.ssl.client.auth=required",
                *_keystore("mtls", self.keystore),
                "listener.name.mtls.ssl.truststore.type=PEM",
                f"listener.name.mtls.ssl.truststore.location={self.truststore.resolve()}",
                "ssl.principal.mapping.rules=RULE:^CN=([^,]+),.*$/$1/,DEFAULT",
                "",
            ]
        )


@dataclass(frozen=True)
class OidcListener(_TlsListener):
    """A SASL_SSL listener (named OIDC) with OAUTHBEARER tokens signed by an identity provider.

    Kafka's ``OAuthBearerValidatorCallbackHandler`` checks each token's signature against the
    provider's JWKS, its expiry, issuer and audience; the principal is the claim
    ``principal_claim`` (``azp``: the OAuth client id, so ``User:ingress``).
    """

    jwks_url: str
    issuer: str
    audience: str
    principal_claim: str = "azp"

    def listener(self) -> Listener:
        return Listener("OIDC", "SASL_SSL", self.address)

    def properties(self) -> str:
        handler = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
        return "\n".join(
            [
                "# A SASL_SSL listener: OAUTHBEARER tokens validated against the JWKS.",
                "listener.name.oidc.sasl.enabled.mechanisms=OAUTHBEARER",
                "listener.name.oidc.oauthbearer.sasl.jaas.config="
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required"
                ' unsecuredLoginStringClaim_sub="broker";',
                f"listener.name.oidc.oauthbearer.sasl.server.callback.handler.class={handler}",
                *_keystore("oidc", self.keystore),
                f"sasl.oauthbearer.jwks.endpoint.url={self.jwks_url}",
                f"sasl.oauthbearer.expected.issuer={self.issuer}",
                f"sasl.oauthbearer.expected.audience={self.audience}",
                f"sasl.oauthbearer.sub.claim.name={self.principal_claim}",
                "",
            ]
        )

    def jvm_options(self) -> tuple[str, ...]:
        # Kafka 4 fetches only from URLs this system property allows (CVE-2025-27817).
        return (f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={self.jwks_url}",)


@dataclass(frozen=True)
class AclAuthorizer:
    """KRaft's ``StandardAuthorizer``: a principal may do only what an ACL allows it.

    ``super_users`` bypass the ACLs; ``User:ANONYMOUS`` (the PLAINTEXT and controller
    listeners: the stack's probe, the broker itself, a test's setup) always does.
    """

    super_users: tuple[str, ...] = ()

    def ports(self) -> tuple[int, ...]:
        return ()

    def listener(self) -> None:
        return None

    def properties(self) -> str:
        users = ";".join(f"User:{u}" for u in ("ANONYMOUS", *self.super_users))
        return "\n".join(
            [
                "# ACLs: nothing is allowed that no ACL allows (super users aside).",
                "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                "allow.everyone.if.no.acl.found=false",
                f"super.users={users}",
                "",
            ]
        )

    def jvm_options(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class Acl:
    """Allow ``principals`` the ``operations`` on ``topics`` and ``groups`` (names or prefixes)."""

    principals: tuple[str, ...]
    operations: tuple[str, ...]
    topics: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    prefixed: bool = False


def service_acls(
    *, events: str, dead_letter: str, results: str, runs: str, group: str, prefixed: bool = False
) -> list[Acl]:
    """Least privilege of each service's principal (the chart README's ACL table).

    No service needs a transactional id (the producers are idempotent, not transactional), a
    cluster permission (an idempotent producer's id comes with Write on a topic) or Create
    (topics are made by the operator: ``create_topics: false``).
    """
    return [
        # Consume events in its group; dead-letter poison events.
        Acl(
            ("ingress",), ("Read", "Describe"), topics=(events,), groups=(group,), prefixed=prefixed
        ),
        Acl(("ingress",), ("Write", "Describe"), topics=(dead_letter,), prefixed=prefixed),
        # Publish results and run events, and read them back (the check before a re-send).
        Acl(
            ("orchestrator", "executor"),
            ("Read", "Write", "Describe"),
            topics=(results, runs),
            prefixed=prefixed,
        ),
    ]
