"""The Temporal client every service uses: pydantic payloads, tracing, TLS/mTLS/API key, encryption.

With ``encryption_keys`` set, every payload (workflow and activity inputs/results, signals,
queries, failure messages and stack traces) is AES-256-GCM encrypted before it leaves the
process, so Temporal's history holds ciphertext only. Search attributes stay readable by
design (the server indexes them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import weakref
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import Runtime
from temporalio.service import RPCError, TLSConfig

from taskfactory_runtime.encryption import EncryptionCodec, Keyring
from taskfactory_runtime.errors import ConfigurationError, TemporalConnectError
from taskfactory_runtime.logging import get_logger
from taskfactory_runtime.secrets import read_secret, resolve_secret
from taskfactory_runtime.settings import TemporalSettings

__all__ = ["connect_temporal", "data_converter", "keyring"]

log = get_logger(__name__)

# Keeps the API-key refresh tasks alive as long as their client.
_refreshers: weakref.WeakKeyDictionary[Client, asyncio.Task[None]] = weakref.WeakKeyDictionary()


def keyring(settings: TemporalSettings) -> Keyring | None:
    """The payload encryption keyring, or ``None`` when encryption is off."""
    spec = resolve_secret(
        settings.encryption_keys, settings.encryption_keys_file, setting="temporal.encryption_keys"
    )
    if spec is None:
        return None
    return Keyring.parse(
        spec.get_secret_value(),
        active=settings.encryption_key_id,
        setting="TASKFACTORY_TEMPORAL__ENCRYPTION_KEYS",
    )


def data_converter(settings: TemporalSettings) -> DataConverter:
    """pydantic payloads; encrypted (failures included) when a keyring is configured."""
    ring = keyring(settings)
    if ring is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(ring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"temporal.{setting}: cannot read {path} ({exc.strerror or type(exc).__name__})"
        ) from None


def _tls(settings: TemporalSettings) -> TLSConfig | bool:
    if not (settings.tls or settings.tls_server_ca or settings.tls_client_cert):
        # Temporal Cloud API keys require TLS.
        return bool(settings.api_key or settings.api_key_file)
    # Certificate files are read at every connect; the SDK cannot swap them on a live
    # connection, so a rotated client certificate takes effect at the next (re)start.
    return TLSConfig(
        server_root_ca_cert=_read(settings.tls_server_ca, "tls_server_ca")
        if settings.tls_server_ca
        else None,
        client_cert=_read(settings.tls_client_cert, "tls_client_cert")
        if settings.tls_client_cert
        else None,
        client_private_key=_read(settings.tls_client_key, "tls_client_key")
        if settings.tls_client_key
        else None,
        domain=settings.tls_server_name,
    )


def _api_key(settings: TemporalSettings) -> str | None:
    key = resolve_secret(settings.api_key, settings.api_key_file, setting="temporal.api_key")
    return key.get_secret_value() if key is not None else None


async def _refresh_api_key(client: weakref.ref[Client], path: Path, every: float) -> None:
    """Swap a rotated API key file into the live connection (the SDK allows that)."""
    while True:
        await asyncio.sleep(every)
        live = client()
        if live is None:
            return
        try:
            key = await asyncio.to_thread(read_secret, path, setting="temporal.api_key_file")
        except ConfigurationError as exc:
            log.warning("temporal api key file unreadable, keeping the current key", error=str(exc))
            continue
        if key.get_secret_value() != live.api_key:
            live.api_key = key.get_secret_value()
            log.info("temporal api key rotated", api_key_file=str(path))
        del live


def _explain(settings: TemporalSettings, exc: Exception) -> TemporalConnectError:
    mode = (
        "mTLS"
        if settings.tls_client_cert
        else "TLS"
        if _tls(settings) is not False
        else "plaintext"
    )
    hint = {
        "mTLS": "check TASKFACTORY_TEMPORAL__TLS_CLIENT_CERT/_KEY are signed by a CA the "
        "frontend trusts and TASKFACTORY_TEMPORAL__TLS_SERVER_CA",
        "TLS": "check TASKFACTORY_TEMPORAL__TLS_SERVER_CA, _TLS_SERVER_NAME and whether the "
        "frontend wants a client certificate",
        "plaintext": "set TASKFACTORY_TEMPORAL__TLS=true if the frontend speaks TLS",
    }[mode]
    if settings.api_key is not None or settings.api_key_file is not None:
        mode += ", API key"
        # The frontend answers a bad key with a bare "Request unauthorized."
        hint = (
            "check the key in TASKFACTORY_TEMPORAL__API_KEY_FILE (or _API_KEY) is valid, not "
            f"expired, and grants namespace {settings.namespace}; {hint}"
        )
    return TemporalConnectError(
        f"temporal: cannot connect to {settings.address} (namespace {settings.namespace}, "
        f"{mode}): {exc}; {hint}"
    )


async def connect_temporal(settings: TemporalSettings, *, runtime: Runtime | None = None) -> Client:
    """Connect to Temporal as the settings say (TLS, API key, payload encryption).

    ``runtime``: the SDK runtime to use, e.g. one exporting the SDK's metrics.
    """
    converter = data_converter(settings)
    try:
        client = await Client.connect(
            settings.address,
            namespace=settings.namespace,
            api_key=_api_key(settings),
            tls=_tls(settings),
            data_converter=converter,
            interceptors=[TracingInterceptor()],
            runtime=runtime,
        )
    except (RPCError, RuntimeError) as exc:
        raise _explain(settings, exc) from None
    if settings.api_key_file is not None:
        _refreshers[client] = asyncio.get_running_loop().create_task(
            _refresh_api_key(
                weakref.ref(client), settings.api_key_file, settings.secret_refresh_seconds
            )
        )
    return client
