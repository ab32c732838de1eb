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

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from taskfactory_runtime.encryption import EncryptionCodec, PayloadDecryptionError
from taskfactory_runtime.logging import get_logger
from taskfactory_runtime.oidc import OidcVerifier
from taskfactory_runtime.secrets import ConfigurationError, resolve_secret
from taskfactory_runtime.settings import CodecServerSettings, ServiceSettings
from taskfactory_runtime.temporal import keyring

__all__ = ["CodecServer", "codec_app", "command"]

log = get_logger(__name__)

_ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"


def _origins(settings: CodecServerSettings) -> set[str]:
    return {o.strip().rstrip("/") for o in settings.cors_origins.split(",") if o.strip()}


def _cors(request: web.Request, response: web.StreamResponse, origins: set[str]) -> None:
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
    request: web.Request, settings: CodecServerSettings, oidc: OidcVerifier | None
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


def codec_app(codec: PayloadCodec, settings: CodecServerSettings) -> web.Application:
    """The aiohttp application serving ``/encode`` and ``/decode`` with CORS and bearer auth."""
    origins = _origins(settings)
    oidc = _verifier(settings)

    @web.middleware
    async def cors_and_auth(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method == "OPTIONS":
            # Browsers send the preflight without credentials; it reveals nothing.
            response: web.StreamResponse = web.Response(status=204)
        elif request.path == "/livez":
            response = await handler(request)
        elif (reason := await _authorised(request, settings, oidc)) is not None:
            log.warning("codec server refused a request", path=request.path, why=reason)
            response = web.json_response({"error": f"unauthorised: {reason}"}, status=401)
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = web.json_response({"error": exc.reason}, status=exc.status)
        _cors(request, response, origins)
        return response

    async def transform(request: web.Request, *, decode: bool) -> web.Response:
        body = await request.read()  # over client_max_size → 413
        try:
            payloads = json_format.Parse(body, Payloads(), ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return web.json_response({"error": f"body is not Payloads JSON: {exc}"}, status=400)
        try:
            done = await (codec.decode if decode else codec.encode)(list(payloads.payloads))
        except PayloadDecryptionError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        text = json_format.MessageToJson(Payloads(payloads=done))
        return web.Response(text=text, content_type="application/json")

    async def decode(request: web.Request) -> web.Response:
        return await transform(request, decode=True)

    async def encode(request: web.Request) -> web.Response:
        return await transform(request, decode=False)

    async def livez(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(middlewares=[cors_and_auth], client_max_size=settings.max_request_bytes)
    for prefix in ("", "/{namespace}"):
        app.router.add_post(f"{prefix}/decode", decode)
        app.router.add_post(f"{prefix}/encode", encode)
        app.router.add_route("OPTIONS", f"{prefix}/decode", livez)
        app.router.add_route("OPTIONS", f"{prefix}/encode", livez)
    app.router.add_get("/livez", livez)
    return app


class CodecServer:
    """Runs :func:`codec_app` on the configured host and port; ``port`` is the bound one."""

    def __init__(self, codec: PayloadCodec, settings: CodecServerSettings) -> None:
        self.settings = settings
        self._app = codec_app(codec, settings)
        self._runner: web.AppRunner | None = None
        self.port = settings.port

    async def start(self) -> None:
        """Bind and serve."""
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.settings.port

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


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
