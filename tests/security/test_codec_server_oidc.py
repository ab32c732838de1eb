"""The codec server accepts access tokens a real OpenID Connect server signs, for its audience.

Keycloak (the security tests' own, realm ``taskfactory``) issues client-credentials tokens;
the codec server, told the realm as its issuer, fetches the realm's signing keys (JWKS) and
decodes for a valid token, and refuses a tampered one, one for another audience and anything
that is not a token, with the reason and never the token in its answer.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from google.protobuf import json_format
from support.secure_kafka import SecureBroker
from temporalio.api.common.v1 import Payload, Payloads

from taskfactory_runtime.codec_server import CodecServer
from taskfactory_runtime.encryption import EncryptionCodec, Keyring, generate_key
from taskfactory_runtime.settings import CodecServerSettings
from taskfactory_stack.keycloak import KAFKA_AUDIENCE

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CODEC = EncryptionCodec(Keyring.parse(f"k1:{generate_key()}"))
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"name":"Ada"}')


async def _access_token(broker: SecureBroker, client: str) -> str:
    """A client-credentials access token of ``client`` from the realm's token endpoint."""
    keycloak = broker.keycloak
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            keycloak.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": client,
                "client_secret": keycloak.secret_file(client).read_text().strip(),
            },
        )
    answer.raise_for_status()
    token: str = answer.json()["access_token"]
    return token


@asynccontextmanager
async def _codec_server(issuer: str, audience: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = CodecServerSettings(port=0, oidc_issuer=issuer, oidc_audience=audience)
    server = CodecServer(CODEC, settings)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            yield http
    finally:
        await server.stop()


async def _decode(http: httpx.AsyncClient, token: str) -> httpx.Response:
    sealed = json_format.MessageToJson(Payloads(payloads=await CODEC.encode([PLAIN])))
    return await http.post("/decode", content=sealed, headers={"Authorization": f"Bearer {token}"})


def _tampered(token: str) -> str:
    """The token with its payload's claims changed and the signature kept."""
    header, payload, signature = token.split(".")
    claims = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    forged = base64.urlsafe_b64encode(claims.replace(b'"ingress"', b'"executor"'))
    return ".".join([header, forged.rstrip(b"=").decode(), signature])


@pytest.mark.parametrize(
    ("forge", "refused"),
    [
        (_tampered, "token refused: bad_signature"),
        (lambda token: "not-a-token", "bearer token is not a JWT"),
    ],
    ids=["tampered", "not-a-jwt"],
)
async def test_a_keycloak_token_decodes_and_a_forged_one_is_refused(
    broker: SecureBroker, forge: Callable[[str], str], refused: str
) -> None:
    token = await _access_token(broker, "ingress")
    async with _codec_server(broker.keycloak.issuer, KAFKA_AUDIENCE) as http:
        accepted = await _decode(http, token)
        assert accepted.status_code == 200, accepted.text
        [payload] = accepted.json()["payloads"]
        assert base64.b64decode(payload["data"]) == b'{"name":"Ada"}'

        forged = forge(token)
        assert forged != token
        answer = await _decode(http, forged)
        assert answer.status_code == 401
        assert refused in answer.json()["error"]
        assert forged not in answer.text
        assert "Ada" not in answer.text


async def test_a_token_for_another_audience_is_refused(broker: SecureBroker) -> None:
    token = await _access_token(broker, "executor")
    async with _codec_server(broker.keycloak.issuer, "temporal-codec") as http:
        answer = await _decode(http, token)
    assert answer.status_code == 401
    assert "token refused: invalid_claim" in answer.json()["error"]
    assert token not in answer.text
