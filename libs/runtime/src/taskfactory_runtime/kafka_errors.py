"""Why a Kafka client could not start: authentication, TLS, or the network, in plain words.

aiokafka reports every bootstrap failure as "Unable to bootstrap from [...]" and logs the
cause; on such a failure we open one diagnostic connection to each bootstrap server with the
same settings and turn what it raises into an error that names the listener and the setting
to check. Secrets never appear in the message.
"""

from __future__ import annotations

import asyncio
import ssl

from aiokafka.conn import create_conn
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
    UnsupportedSaslMechanismError,
)

from taskfactory_contracts.errors import TaskFactoryError
from taskfactory_runtime.errors import (
    KafkaAuthenticationError,
    KafkaAuthorizationError,
    KafkaTlsError,
    KafkaUnavailableError,
)
from taskfactory_runtime.kafka_connection import client_kwargs
from taskfactory_runtime.settings import KafkaSettings

__all__ = [
    "AUTHORIZATION_ERRORS",
    "denied",
    "explain",
]

#: What a broker answers when its ACLs deny the request; retrying cannot help.
AUTHORIZATION_ERRORS = (
    TopicAuthorizationFailedError,
    GroupAuthorizationFailedError,
    ClusterAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)
_RESOURCE = {
    TopicAuthorizationFailedError: "topic",
    GroupAuthorizationFailedError: "consumer group",
    ClusterAuthorizationFailedError: "cluster",
    TransactionalIdAuthorizationFailed: "transactional id",
}


def _listener(settings: KafkaSettings, host: str, port: int) -> str:
    return f"the {settings.security_protocol} listener {host}:{port}"


def _principal(settings: KafkaSettings) -> str:
    if settings.sasl_mechanism == "OAUTHBEARER":
        client = settings.sasl_oauth_client_id
        return (
            f"the OAUTHBEARER token's subject (client id {client!r})"
            if client
            else ("the OAUTHBEARER token's subject")
        )
    if settings.sasl_mechanism is not None:
        return f"user {settings.sasl_username!r} ({settings.sasl_mechanism})"
    if settings.ssl_certfile is not None:
        return f"the client certificate {settings.ssl_certfile}"
    return f"the {settings.security_protocol} client"


def denied(settings: KafkaSettings, exc: Exception) -> KafkaAuthorizationError:
    """The ACL refusal ``exc`` (one of :data:`AUTHORIZATION_ERRORS`) in plain words."""
    resource = next((r for t, r in _RESOURCE.items() if isinstance(exc, t)), "resource")
    # aiokafka puts the topic or group name in the first argument, when it knows it.
    name = f" {exc.args[0]!r}" if exc.args and isinstance(exc.args[0], str) else ""
    return KafkaAuthorizationError(
        f"kafka: the broker's ACLs deny {_principal(settings)} the {resource}{name} at "
        f"{settings.bootstrap_servers} ({type(exc).__name__}); grant the principal the ACLs "
        "its service needs (the chart README's ACL table) or fix the name in the settings"
    )


def _hosts(settings: KafkaSettings) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for item in settings.bootstrap_servers.split(","):
        host, _, port = item.strip().rpartition(":")
        if host and port.isdigit():
            out.append((host.strip("[]"), int(port)))
    return out[:3]


async def _diagnose(settings: KafkaSettings, host: str, port: int) -> TaskFactoryError | None:
    kwargs = client_kwargs(settings)
    for key in ("bootstrap_servers", "request_timeout_ms"):
        kwargs.pop(key)
    where = _listener(settings, host, port)
    timeout = settings.request_timeout_ms / 1000
    try:
        conn = await asyncio.wait_for(
            create_conn(host, port, request_timeout_ms=settings.request_timeout_ms, **kwargs),
            timeout,
        )
    except SaslAuthenticationFailed as exc:
        user = f", user {settings.sasl_username!r}" if settings.sasl_username else ""
        check = (
            "the token TASKFACTORY_KAFKA__SASL_OAUTH_TOKEN_FILE, _TOKEN_URL or _TOKEN_PROVIDER "
            "hands out (expiry, scope, audience)"
            if settings.sasl_mechanism == "OAUTHBEARER"
            else "TASKFACTORY_KAFKA__SASL_USERNAME and TASKFACTORY_KAFKA__SASL_PASSWORD(_FILE)"
        )
        return KafkaAuthenticationError(
            f"kafka: SASL authentication failed at {where} (mechanism "
            f"{settings.sasl_mechanism}{user}): {exc.args[0] if exc.args else exc}; check "
            f"{check}"
        )
    except UnsupportedSaslMechanismError:
        return KafkaAuthenticationError(
            f"kafka: {where} does not enable SASL mechanism {settings.sasl_mechanism}; "
            "check TASKFACTORY_KAFKA__SASL_MECHANISM"
        )
    except ssl.SSLCertVerificationError as exc:
        return KafkaTlsError(
            f"kafka: TLS handshake with {where} failed, the broker certificate was not "
            f"accepted ({exc.verify_message}); check TASKFACTORY_KAFKA__SSL_CAFILE "
            "and the host name in the bootstrap servers"
        )
    except ssl.SSLError as exc:
        return KafkaTlsError(
            f"kafka: TLS handshake with {where} failed ({exc.reason or exc}); is it a TLS "
            "listener, and does it require a client certificate (TASKFACTORY_KAFKA__SSL_CERTFILE)?"
        )
    except (KafkaConnectionError, OSError, TimeoutError) as exc:
        text = str(exc) or type(exc).__name__
        return KafkaUnavailableError(
            f"kafka: cannot connect to {where}: {text} (is the security protocol right?)"
        )
    conn.close()
    return None


async def explain(settings: KafkaSettings, error: KafkaConnectionError) -> TaskFactoryError:
    """The most telling reason the bootstrap servers refused us."""
    found: TaskFactoryError | None = None
    for host, port in _hosts(settings):
        reason = await _diagnose(settings, host, port)
        if isinstance(reason, KafkaAuthenticationError | KafkaTlsError):
            return reason
        found = found or reason
    return found or KafkaUnavailableError(
        f"kafka: cannot bootstrap from {settings.bootstrap_servers} "
        f"({settings.security_protocol}): {error}"
    )
