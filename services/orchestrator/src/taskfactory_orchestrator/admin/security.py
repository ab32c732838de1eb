"""Who is calling (bearer token → named principal), what they may do, and bounded bodies.

:class:`Guard` wraps the whole ASGI app: it answers 401 before any byte of the body is read
(the OpenAPI document included), then reads the body up to the limit, whatever its framing
(``Content-Length`` or chunked), and answers 413 past it. Routes then only see
authenticated requests with complete, bounded bodies and check the scope they need.
"""

from __future__ import annotations

import enum
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from taskfactory_orchestrator.settings import AdminSection
from taskfactory_runtime.http_server import read_body
from taskfactory_runtime.secrets import resolve_secret

__all__ = ["Guard", "Identity", "Scope", "TokenAuth", "error_body", "identity_of", "require"]

_IDENTITY = "taskfactory.identity"


class Scope(enum.IntEnum):
    """What a principal may do; each includes the ones below it."""

    READ = 1
    APPROVE = 2
    ADMIN = 3


@dataclass(frozen=True)
class Identity:
    """The authenticated caller of a request."""

    name: str
    scope: Scope
    groups: tuple[str, ...] = ()


def error_body(code: str, message: str, details: object = None) -> dict[str, object]:
    """The one shape of every error response: ``{"error": {"code", "message"[, "details"]}}``."""
    error: dict[str, object] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


@dataclass
class TokenAuth:
    """Maps ``Authorization: Bearer …`` to a principal, comparing in constant time.

    Token files are read per request so a rotated secret applies without a restart. Every
    token is compared (no early exit), so timing tells nothing about which one nearly matched;
    the first principal whose token matches wins.
    """

    settings: AdminSection

    def _principals(self) -> list[tuple[bytes, Identity]]:
        s = self.settings
        out: list[tuple[bytes, Identity]] = []
        for secret, identity in (
            (
                resolve_secret(s.admin_token, s.admin_token_file, setting="admin.admin_token"),
                Identity("admin", Scope.ADMIN),
            ),
            (
                resolve_secret(s.read_token, s.read_token_file, setting="admin.read_token"),
                Identity("read", Scope.READ),
            ),
            *(
                (
                    resolve_secret(
                        p.token, p.token_file, setting=f"admin.principals[{p.name}].token"
                    ),
                    Identity(p.name, Scope[p.scope.upper()], p.groups),
                )
                for p in s.principals
            ),
        ):
            if secret is not None:
                out.append((secret.get_secret_value().encode(), identity))
        return out

    def identify(self, header: str | None) -> Identity | None:
        """The principal the presented token belongs to, or ``None`` when missing or wrong."""
        if not header or not header.startswith("Bearer "):
            return None
        presented = header[len("Bearer ") :].strip().encode()
        found: Identity | None = None
        for token, identity in self._principals():
            if hmac.compare_digest(presented, token) and found is None:
                found = identity
        return found


def identity_of(request: Request) -> Identity:
    """The caller :class:`Guard` authenticated (every request that reaches a route has one)."""
    identity = request.scope.get(_IDENTITY)
    if not isinstance(identity, Identity):  # a route served without the guard
        raise HTTPException(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
    return identity


# Declares the bearer scheme in the OpenAPI document; the guard has checked the token already.
_BEARER = HTTPBearer(
    auto_error=False,
    description="A principal's token (TASKFACTORY_ADMIN__PRINCIPALS, …_ADMIN_TOKEN, …_READ_TOKEN).",
)


def require(needed: Scope) -> Callable[..., Identity]:
    """A FastAPI dependency: the caller, or 403 when their scope is too small."""

    def check(
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
    ) -> Identity:
        identity = identity_of(request)
        if identity.scope < needed:
            raise HTTPException(
                403, f"{identity.name!r} may not do that (needs {needed.name.lower()})"
            )
        return identity

    return check


class Guard:
    """401 without a valid token (before the body is read), 413 for a body over ``limit``."""

    def __init__(self, app: ASGIApp, auth: TokenAuth, limit: int) -> None:
        self.app = app
        self.auth = auth
        self.limit = limit

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        header = headers.get(b"authorization")
        identity = self.auth.identify(header.decode("latin-1") if header is not None else None)
        if identity is None:
            await _answer(
                send,
                401,
                error_body("unauthorized", "a valid bearer token is required"),
                ((b"www-authenticate", b"Bearer"),),
            )
            return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _answer(send, 413, _too_large(self.limit))
            return
        body = await read_body(receive, self.limit)
        if body is None:
            await _answer(send, 413, _too_large(self.limit))
            return
        replayed = False

        async def bounded() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # only http.disconnect is left to come

        await self.app({**scope, _IDENTITY: identity}, bounded, send)


def _too_large(limit: int) -> dict[str, object]:
    return error_body("too_large", f"request body over {limit} bytes")


async def _answer(
    send: Send, status: int, doc: dict[str, object], extra: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    body = json.dumps(doc).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
