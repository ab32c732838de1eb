"""The Temporal client every service uses: pydantic payloads, tracing interceptor, TLS/API key."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from taskfactory_runtime.settings import TemporalSettings

__all__ = ["connect_temporal"]


def _tls(settings: TemporalSettings) -> TLSConfig | bool:
    if not (settings.tls or settings.tls_server_ca or settings.tls_client_cert):
        return bool(settings.api_key)  # Temporal Cloud API keys require TLS
    return TLSConfig(
        server_root_ca_cert=settings.tls_server_ca.read_bytes() if settings.tls_server_ca else None,
        client_cert=settings.tls_client_cert.read_bytes() if settings.tls_client_cert else None,
        client_private_key=settings.tls_client_key.read_bytes()
        if settings.tls_client_key
        else None,
    )


async def connect_temporal(settings: TemporalSettings) -> Client:
    """Connect to Temporal as the settings say."""
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        tls=_tls(settings),
        data_converter=pydantic_data_converter,
        interceptors=[TracingInterceptor()],
    )
