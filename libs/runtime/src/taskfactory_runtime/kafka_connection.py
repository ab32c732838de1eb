"""How every Kafka client connects: bootstrap, TLS context and SASL credentials from settings.

Apart from ``kafka`` (the client factories) so that ``kafka_errors``, which opens a bare
connection to diagnose a failure, needs nothing from the module that imports it.
"""

from __future__ import annotations

import ssl
from typing import Any

from taskfactory_runtime.errors import ConfigurationError
from taskfactory_runtime.secrets import read_secret
from taskfactory_runtime.settings import KafkaSettings

__all__ = ["client_kwargs", "ssl_context"]


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    """The TLS context of the brokers' listener: CA, optional client cert, hostname check."""
    try:
        context = ssl.create_default_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
        )
        if settings.ssl_certfile:
            context.load_cert_chain(
                str(settings.ssl_certfile),
                str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
            )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"kafka TLS: cannot load the CA/client certificate files "
            f"(ssl_cafile={settings.ssl_cafile}, ssl_certfile={settings.ssl_certfile}, "
            f"ssl_keyfile={settings.ssl_keyfile}): {exc}"
        ) from None
    context.check_hostname = settings.ssl_check_hostname
    return context


def client_kwargs(settings: KafkaSettings) -> dict[str, Any]:
    """Connection and security keyword arguments common to aiokafka clients.

    Secret files are read here, so a client built after a secret rotation uses the new value.
    """
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
        "request_timeout_ms": settings.request_timeout_ms,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_context"] = ssl_context(settings)
    if settings.sasl_mechanism == "OAUTHBEARER":
        from taskfactory_runtime.oauth import install_oauth_failure_handling, token_provider

        install_oauth_failure_handling()
        kwargs["sasl_mechanism"] = "OAUTHBEARER"
        kwargs["sasl_oauth_token_provider"] = token_provider(settings)
    elif settings.sasl_mechanism:
        kwargs["sasl_mechanism"] = settings.sasl_mechanism
        kwargs["sasl_plain_username"] = settings.sasl_username
        password = settings.sasl_password
        if password is None and settings.sasl_password_file is not None:
            password = read_secret(settings.sasl_password_file, setting="kafka.sasl_password_file")
        if settings.sasl_username is None or password is None:
            raise ConfigurationError(
                f"kafka: SASL {settings.sasl_mechanism} needs TASKFACTORY_KAFKA__SASL_USERNAME "
                "and TASKFACTORY_KAFKA__SASL_PASSWORD (or ..._SASL_PASSWORD_FILE)"
            )
        kwargs["sasl_plain_password"] = password.get_secret_value()
    return kwargs
