"""The codec server decodes for authenticated callers, answers CORS for the UI, limits size."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads

from taskfactory_runtime.codec_server import CodecServer
from taskfactory_runtime.encryption import EncryptionCodec, Keyring, generate_key
from taskfactory_runtime.errors import ConfigurationError
from taskfactory_runtime.settings import CodecServerSettings

TOKEN = "codec-token-SENTINEL-77"
UI = "http://temporal-ui.example:8080"
CODEC = EncryptionCodec(Keyring.parse(f"k1:{generate_key()}"))
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"name":"Ada"}')


@pytest.fixture
async def http(tmp_path: object) -> AsyncIterator[httpx.AsyncClient]:
    settings = CodecServerSettings(
        port=0,
        cors_origins=f"{UI},http://other-ui",
        auth_token=SecretStr(TOKEN),
        max_request_bytes=64 * 1024,
    )
    server = CodecServer(CODEC, settings)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            yield client
    finally:
        await server.stop()


async def _sealed_body() -> str:
    return json_format.MessageToJson(Payloads(payloads=await CODEC.encode([PLAIN])))


async def test_an_authenticated_request_gets_the_clear_payloads(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/decode",
        content=await _sealed_body(),
        headers={"Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"},
    )
    assert response.status_code == 200
    [payload] = response.json()["payloads"]
    assert base64.b64decode(payload["data"]) == b'{"name":"Ada"}'


async def test_namespaced_paths_work_too(http: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    sealed = await http.post(
        "/default/encode",
        content=json_format.MessageToJson(Payloads(payloads=[PLAIN])),
        headers=auth,
    )
    assert sealed.status_code == 200
    assert b"Ada" not in base64.b64decode(sealed.json()["payloads"][0]["data"])
    opened = await http.post("/default/decode", content=sealed.text, headers=auth)
    assert base64.b64decode(opened.json()["payloads"][0]["data"]) == b'{"name":"Ada"}'


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["none", "wrong-token", "not-bearer"],
)
async def test_unauthenticated_requests_are_refused_and_learn_nothing(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await http.post("/decode", content=await _sealed_body(), headers=headers)
    assert response.status_code == 401
    assert "Ada" not in response.text
    assert TOKEN not in response.text


async def test_cors_preflight_answers_the_configured_ui_only(http: httpx.AsyncClient) -> None:
    asked = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    ok = await http.options("/decode", headers={"Origin": UI, **asked})
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == UI
    assert ok.headers["Access-Control-Allow-Credentials"] == "true"
    assert "authorization" in ok.headers["Access-Control-Allow-Headers"].lower()
    evil = await http.options("/decode", headers={"Origin": "https://evil.example", **asked})
    assert "Access-Control-Allow-Origin" not in evil.headers
    # The actual response carries the CORS header as well, for the allowed origin.
    decoded = await http.post(
        "/decode",
        content=await _sealed_body(),
        headers={"Origin": UI, "Authorization": f"Bearer {TOKEN}"},
    )
    assert decoded.headers["Access-Control-Allow-Origin"] == UI


async def test_oversized_and_malformed_bodies_are_refused(http: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    big = await http.post("/decode", content=b"{" + b" " * (65 * 1024) + b"}", headers=auth)
    assert big.status_code == 413
    bad = await http.post("/decode", content=b"not json", headers=auth)
    assert bad.status_code == 400


async def test_without_a_configured_token_every_request_is_refused() -> None:
    server = CodecServer(CODEC, CodecServerSettings(port=0))
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            response = await client.post(
                "/decode", content=await _sealed_body(), headers={"Authorization": "Bearer x"}
            )
        assert response.status_code == 401
        assert "no token is configured" in response.json()["error"]
    finally:
        await server.stop()


def test_an_oidc_issuer_without_an_audience_is_refused_at_start() -> None:
    settings = CodecServerSettings(port=0, oidc_issuer="https://idp.example/realms/ops")
    with pytest.raises(ConfigurationError, match="OIDC_AUDIENCE"):
        CodecServer(CODEC, settings)
