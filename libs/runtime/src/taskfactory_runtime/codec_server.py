"""The codec server: the Temporal UI (and ``temporal --codec-endpoint``) decode payloads with it.

Speaks the Temporal convention: ``POST /decode`` and ``POST /encode`` with a JSON
``{"payloads": [...]}`` body (protobuf JSON of ``Payloads``), optional ``X-Namespace`` header.
Every request needs ``Authorization: Bearer <token>``: the configured static token, or an
access token signed by the configured OpenID Connect issuer for the configured audience (what
the Temporal UI sends with ``passAccessToken``). CORS answers only the configured UI origins.
Without a configured token or issuer every request is refused.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from taskfactory_runtime.encryption import EncryptionCodec
from taskfactory_runtime.errors import ConfigurationError, PayloadDecryptionError
from taskfactory_runtime.http_server import HttpServer, read_body
from taskfactory_runtime.logging import get_logger
from taskfactory_runtime.oidc import OidcVerifier
from taskfactory_runtime.secrets import resolve_secret
from taskfactory_runtime.settings import CodecServerSettings, ServiceSettings
from taskfactory_runtime.temporal import keyring

__all__ = ["CodecServer", "codec_app", "command"]

log = get_logger(__name__)

_ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"


def _origins(settings: CodecServerSettings) -> set[str]:
    return {o.strip().rstrip("/") for o in settings.cors_origins.split(",") if o.strip()}


def _cors(request: Request, response: Response, origins: set[str]) -> None:
    origin = request.headers.get("Origin", "")
    if origin.rstrip("/") in origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = _ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
        response.headers["Vary"] = "Origin"


def _verifier(settings: CodecServerSettings) -> OidcVerifier | None:
    if settings.oidc_issuer is None:
        return None
    if not settings.oidc_audience:
        raise ConfigurationError(
            "codec server: TASKFACTORY_CODEC_SERVER__OIDC_ISSUER needs "
            "TASKFACTORY_CODEC_SERVER__OIDC_AUDIENCE (the aud its tokens carry for this server)"
        )
    return OidcVerifier(settings.oidc_issuer, settings.oidc_audience)


async def _authorised(
    request: Request, settings: CodecServerSettings, oidc: OidcVerifier | None
) -> str | None:
    """``None`` when the bearer token is accepted, else why not (never echoing what was sent)."""
    expected = resolve_secret(
        settings.auth_token, settings.auth_token_file, setting="codec_server.auth_token"
    )
    if expected is None and oidc is None:
        return (
            "no token is configured (TASKFACTORY_CODEC_SERVER__AUTH_TOKEN, or an issuer: "
            "…__OIDC_ISSUER); refusing all"
        )
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return "missing bearer token"
    given = given.strip()
    if expected is not None and hmac.compare_digest(
        given.encode(), expected.get_secret_value().encode()
    ):
        return None
    if oidc is not None:
        return await oidc.check(given)
    return "wrong bearer token"


def codec_app(codec: PayloadCodec, settings: CodecServerSettings) -> ASGIApp:
    """The ASGI application serving ``/encode`` and ``/decode`` with CORS and bearer auth."""
    origins = _origins(settings)
    limit = settings.max_request_bytes
    oidc = _verifier(settings)

    async def transform(request: Request, *, decode: bool) -> Response:
        if request.method == "OPTIONS":
            # Browsers send the preflight without credentials; it reveals nothing.
            return Response(status_code=204)
        if (reason := await _authorised(request, settings, oidc)) is not None:
            log.warning("codec server refused a request", path=request.url.path, why=reason)
            return _error(401, f"unauthorised: {reason}")
        declared = request.headers.get("Content-Length", "0")
        body = await read_body(request.receive, limit) if declared.isdigit() else None
        if body is None or int(declared) > limit:
            return _error(413, f"request body over {limit} bytes")
        try:
            payloads = json_format.Parse(body, Payloads(), ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _error(400, f"body is not Payloads JSON: {exc}")
        try:
            done = await (codec.decode if decode else codec.encode)(list(payloads.payloads))
        except PayloadDecryptionError as exc:
            return _error(400, str(exc))
        text = json_format.MessageToJson(Payloads(payloads=done))
        return Response(text, media_type="application/json")

    def with_cors(decode: bool) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            response = await transform(request, decode=decode)
            _cors(request, response, origins)
            return response

        return endpoint

    async def livez(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [Route("/livez", livez)]
    for prefix in ("", "/{namespace}"):
        for name, decode in (("decode", True), ("encode", False)):
            routes.append(Route(f"{prefix}/{name}", with_cors(decode), methods=["POST", "OPTIONS"]))
    return Starlette(routes=routes)


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


class CodecServer(HttpServer):
    """Runs :func:`codec_app` on the configured host and port; ``port`` is the bound one."""

    def __init__(self, codec: PayloadCodec, settings: CodecServerSettings) -> None:
        super().__init__(
            codec_app(codec, settings), host=settings.host, port=settings.port, name="codec"
        )
        self.settings = settings


async def _run(settings: ServiceSettings, stop: asyncio.Event) -> None:
    ring = keyring(settings.temporal)
    if ring is None:
        raise ConfigurationError(
            "codec server: payload encryption is off; set TASKFACTORY_TEMPORAL__ENCRYPTION_KEYS "
            "(or ..._ENCRYPTION_KEYS_FILE)"
        )
    server = CodecServer(EncryptionCodec(ring), settings.codec_server)
    await server.start()
    log.info(
        "codec server listening",
        port=server.port,
        key_ids=sorted(ring.keys),
        cors_origins=sorted(_origins(settings.codec_server)),
    )
    try:
        await stop.wait()
    finally:
        await server.stop()


def command() -> None:
    """Serve the codec server for the Temporal UI (decodes encrypted payloads)."""
    from taskfactory_runtime.service import serve

    serve(ServiceSettings(), _run, service="codec-server")
