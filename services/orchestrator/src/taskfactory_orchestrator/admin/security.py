"""Bearer tokens with read-only and admin scopes, stable JSON errors and a body size limit."""

from __future__ import annotations

import enum
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from taskfactory_orchestrator.settings import AdminSection
from taskfactory_runtime.secrets import resolve_secret

__all__ = ["BodyLimit", "Scope", "TokenAuth", "error_body"]


class Scope(enum.IntEnum):
    """What a token may do; admin includes read."""

    READ = 1
    ADMIN = 2


def error_body(code: str, message: str, details: object = None) -> dict[str, object]:
    """The one shape of every error response: ``{"error": {"code", "message"[, "details"]}}``."""
    error: dict[str, object] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


@dataclass
class TokenAuth:
    """Checks ``Authorization: Bearer …`` against the configured tokens in constant time.

    Token files are read per request so a rotated secret applies without a restart. Every
    token is compared (no early exit), so timing tells nothing about which one nearly matched.
    """

    settings: AdminSection

    def _tokens(self) -> list[tuple[bytes, Scope]]:
        s = self.settings
        pairs = [
            (
                resolve_secret(s.admin_token, s.admin_token_file, setting="admin.admin_token"),
                Scope.ADMIN,
            ),
            (
                resolve_secret(s.read_token, s.read_token_file, setting="admin.read_token"),
                Scope.READ,
            ),
        ]
        return [(_raw(t), scope) for t, scope in pairs if t is not None]

    def scope_of(self, header: str | None) -> Scope | None:
        """The scope of the presented token, or ``None`` when it is missing or wrong."""
        if not header or not header.startswith("Bearer "):
            return None
        presented = header[len("Bearer ") :].strip().encode()
        found: Scope | None = None
        for token, scope in self._tokens():
            if hmac.compare_digest(presented, token) and found is None:
                found = scope
        return found

    def require(self, needed: Scope) -> Callable[[Request], None]:
        """A FastAPI dependency: 401 without a valid token, 403 when its scope is too small."""

        def check(request: Request) -> None:
            scope = self.scope_of(request.headers.get("authorization"))
            if scope is None:
                raise HTTPException(
                    401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
                )
            if scope < needed:
                raise HTTPException(403, "this token may not do that")

        return check


def _raw(secret: SecretStr) -> bytes:
    return secret.get_secret_value().encode()


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes with 413, by header or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(send, self.limit)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(send, self.limit)


class _TooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(error_body("too_large", f"request body over {limit} bytes")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
