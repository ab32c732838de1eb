"""The registry client's configuration from settings, and the cache the codec reads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from taskfactory_runtime.errors import ConfigurationError, RegistryMiss
from taskfactory_runtime.schema_registry import RegistryCache, registry_client_config, with_registry
from taskfactory_runtime.settings import KafkaSettings

URL = "https://registry.example/apis/ccompat/v7"


def test_basic_auth_and_tls_reach_the_client(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    config = registry_client_config(
        KafkaSettings(
            schema_registry_url=URL,
            schema_registry_username="svc",
            schema_registry_password_file=secret,
            schema_registry_ssl_cafile=tmp_path / "ca.pem",
            schema_registry_ssl_certfile=tmp_path / "client.pem",
            schema_registry_ssl_keyfile=tmp_path / "client.key",
        )
    )
    assert config["url"] == URL
    assert config["basic.auth.user.info"] == "svc:s3cret"
    assert config["ssl.ca.location"] == str(tmp_path / "ca.pem")
    assert config["ssl.certificate.location"] == str(tmp_path / "client.pem")
    assert config["ssl.key.location"] == str(tmp_path / "client.key")
    assert config["max.retries"] == 0  # our own backoff pauses the ingress


async def test_a_bearer_token_file_is_read_for_every_request(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    config = registry_client_config(
        KafkaSettings(schema_registry_url=URL, schema_registry_bearer_token_file=token)
    )
    provider = config["bearer.auth.custom.provider.function"]
    assert (await provider({}))["bearer.auth.token"] == "first"
    token.write_text("rotated\n")
    assert (await provider({}))["bearer.auth.token"] == "rotated"
    # The real client accepts this configuration.
    from confluent_kafka.schema_registry import AsyncSchemaRegistryClient

    await AsyncSchemaRegistryClient(config).aclose()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {
                "schema_registry_username": "svc",
                "schema_registry_password": SecretStr("p"),
                "schema_registry_bearer_token": SecretStr("t"),
            },
            "not both",
        ),
        ({"schema_registry_username": "svc"}, "needs both"),
        ({"schema_registry_password": SecretStr("p")}, "needs both"),
    ],
)
def test_incoherent_auth_is_one_clear_error(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        registry_client_config(KafkaSettings(schema_registry_url=URL, **values))


def test_a_secret_and_its_file_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="schema_registry_bearer_token_file"):
        KafkaSettings(
            schema_registry_bearer_token=SecretStr("t"),
            schema_registry_bearer_token_file=tmp_path / "t",
        )


class _Lookup:
    """Stands in for the async client side: loads misses into a cache, counting them."""

    def __init__(self) -> None:
        self.cache = RegistryCache()
        self.loads = 0

    async def load(self, miss: RegistryMiss) -> None:
        self.loads += 1
        await asyncio.sleep(0)
        assert miss.schema_id is not None
        self.cache.texts[miss.schema_id] = f"schema {miss.schema_id}"


async def test_with_registry_loads_each_miss_once_then_answers_from_memory() -> None:
    lookup = _Lookup()
    got = await with_registry(lambda: lookup.cache.schema_text(7), lookup)  # type: ignore[arg-type]
    assert got == "schema 7"
    assert await with_registry(lambda: lookup.cache.schema_text(7), lookup) == "schema 7"  # type: ignore[arg-type]
    assert lookup.loads == 1
