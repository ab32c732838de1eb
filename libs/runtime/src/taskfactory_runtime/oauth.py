"""OAUTHBEARER token providers for Kafka: a token file, OAuth 2 client credentials, or a plugin."""

from __future__ import annotations

import asyncio
import importlib
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

import aiokafka.conn
import httpx
from aiokafka.abc import AbstractTokenProvider
from aiokafka.errors import SaslAuthenticationFailed
from pydantic import SecretStr

from taskfactory_runtime.errors import ConfigurationError, TokenEndpointError
from taskfactory_runtime.secrets import read_secret, register_secret, resolve_secret
from taskfactory_runtime.settings import KafkaSettings

__all__ = [
    "ClientCredentialsTokenProvider",
    "FileTokenProvider",
    "install_oauth_failure_handling",
    "token_provider",
]


@dataclass(eq=False)
class FileTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """The bearer token in a file, read for every connection (rotated mounts just work)."""

    path: Path

    async def token(self) -> str:
        """The file's current content."""
        secret = await asyncio.to_thread(
            read_secret, self.path, setting="kafka.sasl_oauth_token_file"
        )
        return secret.get_secret_value()


@dataclass(eq=False)
class ClientCredentialsTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """OAuth 2 client-credentials grant; the token is reused until shortly before it expires."""

    url: str
    client_id: str
    #: Reads the client secret (from the settings or its file) for each token request.
    client_secret: Callable[[], SecretStr] = field(repr=False)
    _: KW_ONLY
    scope: str | None = None
    timeout: float = 10.0
    _token: tuple[str, float] | None = field(default=None, init=False, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def token(self) -> str:
        """A token valid for at least 30 more seconds."""
        async with self._lock:
            if self._token is not None and self._token[1] > time.monotonic():
                return self._token[0]
            value, lifetime = await self._fetch()
            self._token = (value, time.monotonic() + max(0.0, lifetime - 30.0))
            return value

    async def _fetch(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        auth = httpx.BasicAuth(self.client_id, self.client_secret().get_secret_value())
        try:
            # The system's trust store and no proxy from the environment, as for the brokers.
            async with httpx.AsyncClient(
                timeout=self.timeout, verify=ssl.create_default_context(), trust_env=False
            ) as http:
                response = await http.post(self.url, data=form, auth=auth)
            answer: Any = response.json()
            status = response.status_code
        except (httpx.HTTPError, ValueError) as exc:
            raise TokenEndpointError(
                f"kafka OAUTHBEARER: the token endpoint {self.url} failed: {type(exc).__name__}"
            ) from None
        body: dict[str, Any] = answer if isinstance(answer, dict) else {}
        if status != 200 or not isinstance(body.get("access_token"), str):
            # `error` is a short code by RFC 6749; the description could echo request data.
            code = body.get("error", "no access_token in the answer")
            raise TokenEndpointError(
                f"kafka OAUTHBEARER: the token endpoint {self.url} answered HTTP {status} "
                f"({code}) for client id {self.client_id!r}"
            )
        return body["access_token"], float(body.get("expires_in", 300))


class _OAuthAuthenticator(aiokafka.conn.OAuthAuthenticator):  # type: ignore[misc]
    """aiokafka's OAUTHBEARER exchange, plus the broker's refusal of a token.

    A broker that refuses a token answers the client's first message with an RFC 7628 error
    challenge (``{"status": "invalid_token"}``) instead of an error code. aiokafka 0.14 ignores
    that challenge and reports success, so the client "starts" and then fails with unrelated
    connection errors. Here a challenge after the token is the refusal it is.
    """

    async def step(self, payload: bytes | None) -> tuple[bytes, bool] | None:
        if self._token_sent and payload:
            try:
                detail = json.loads(payload)
            except ValueError:
                detail = {}
            status = detail.get("status", "refused") if isinstance(detail, dict) else "refused"
            scope = detail.get("scope") if isinstance(detail, dict) else None
            wanted = f", required scope {scope!r}" if scope else ""
            raise SaslAuthenticationFailed(
                f"the broker refused the OAUTHBEARER token (status {status}{wanted})"
            )
        result: tuple[bytes, bool] | None = await super().step(payload)
        return result


def install_oauth_failure_handling() -> None:
    """Make aiokafka's connections use :class:`_OAuthAuthenticator` (idempotent)."""
    aiokafka.conn.OAuthAuthenticator = _OAuthAuthenticator


def _plugin(spec: str, settings: KafkaSettings) -> AbstractTokenProvider:
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ConfigurationError(
            f"kafka.sasl_oauth_token_provider: {spec!r} is not `module:callable`"
        )
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"kafka.sasl_oauth_token_provider: cannot load {spec!r} ({exc})"
        ) from None
    provider = factory(settings)
    if not isinstance(provider, AbstractTokenProvider):
        raise ConfigurationError(
            f"kafka.sasl_oauth_token_provider: {spec!r} returned {type(provider).__name__}, "
            "not an aiokafka AbstractTokenProvider"
        )
    return provider


class _Registering(AbstractTokenProvider):  # type: ignore[misc]
    """Registers every access token handed to the Kafka client for scrubbing from the logs."""

    def __init__(self, inner: AbstractTokenProvider) -> None:
        self.inner = inner

    async def token(self) -> str:
        value: str = await self.inner.token()
        register_secret(value)
        return value

    def extensions(self) -> dict[str, str]:
        extensions: dict[str, str] = self.inner.extensions()
        return extensions


def token_provider(settings: KafkaSettings) -> AbstractTokenProvider:
    """The OAUTHBEARER token provider the settings select; every token it hands out is secret."""
    return _Registering(_provider(settings))


def _provider(settings: KafkaSettings) -> AbstractTokenProvider:
    if settings.sasl_oauth_token_provider:
        return _plugin(settings.sasl_oauth_token_provider, settings)
    if settings.sasl_oauth_token_url:
        if not settings.sasl_oauth_client_id:
            raise ConfigurationError(
                "kafka: TASKFACTORY_KAFKA__SASL_OAUTH_TOKEN_URL needs "
                "TASKFACTORY_KAFKA__SASL_OAUTH_CLIENT_ID"
            )

        def secret() -> SecretStr:
            value = resolve_secret(
                settings.sasl_oauth_client_secret,
                settings.sasl_oauth_client_secret_file,
                setting="kafka.sasl_oauth_client_secret",
            )
            if value is None:
                raise ConfigurationError(
                    "kafka: the token endpoint needs TASKFACTORY_KAFKA__SASL_OAUTH_CLIENT_SECRET "
                    "or ..._CLIENT_SECRET_FILE"
                )
            return value

        secret()  # fail at start, not at the first connection
        return ClientCredentialsTokenProvider(
            settings.sasl_oauth_token_url,
            settings.sasl_oauth_client_id,
            secret,
            scope=settings.sasl_oauth_scope,
        )
    if settings.sasl_oauth_token_file:
        return FileTokenProvider(settings.sasl_oauth_token_file)
    raise ConfigurationError(
        "kafka: SASL mechanism OAUTHBEARER needs TASKFACTORY_KAFKA__SASL_OAUTH_TOKEN_FILE, "
        "..._SASL_OAUTH_TOKEN_URL (client credentials) or ..._SASL_OAUTH_TOKEN_PROVIDER"
    )
