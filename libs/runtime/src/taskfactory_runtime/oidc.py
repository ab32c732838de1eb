"""Bearer tokens from an OpenID Connect issuer, checked against its published signing keys.

The issuer's discovery document (``<issuer>/.well-known/openid-configuration``) names its
JWKS; the keys are fetched once and again when a token names a key id not seen yet (a key
rotation), at most once per :attr:`OidcVerifier.refresh_seconds`. A token passes when its
signature verifies with one of those keys (asymmetric algorithms only) and its ``iss``,
``aud`` and ``exp`` (required) and ``nbf`` hold.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

__all__ = ["ALGORITHMS", "OidcVerifier"]

#: Signatures with a public key only: an HMAC algorithm would turn a public key into a secret.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]


class OidcVerifier:
    """Checks bearer tokens of one issuer for one audience."""

    def __init__(self, issuer: str, audience: str, *, refresh_seconds: float = 30.0) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.refresh_seconds = refresh_seconds
        self._keys: KeySet | None = None
        self._fetched = 0.0
        self._lock = asyncio.Lock()
        self._claims = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
        )

    async def _fetch(self) -> KeySet:
        async with httpx.AsyncClient(timeout=10) as http:
            discovery = await http.get(f"{self.issuer}/.well-known/openid-configuration")
            discovery.raise_for_status()
            jwks = await http.get(discovery.json()["jwks_uri"])
            jwks.raise_for_status()
        document: dict[str, Any] = jwks.json()
        return KeySet.import_key_set(document)  # type: ignore[arg-type]  # a JWKS document

    async def _key_set(self, kid: str | None) -> KeySet:
        async with self._lock:
            known = self._keys is not None and (
                kid is None or any(key.kid == kid for key in self._keys.keys)
            )
            due = time.monotonic() - self._fetched >= self.refresh_seconds
            if self._keys is None or (not known and due):
                self._keys = await self._fetch()
                self._fetched = time.monotonic()
            return self._keys

    async def check(self, token: str) -> str | None:
        """``None`` when ``token`` is valid, else why not (never echoing the token)."""
        try:
            header = jws.extract_compact(token.encode()).protected
        except (JoseError, ValueError):
            return "bearer token is not a JWT"
        try:
            keys = await self._key_set(header.get("kid"))
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            return f"cannot fetch the signing keys of {self.issuer}: {type(exc).__name__}"
        try:
            decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
            self._claims.validate(decoded.claims)
        except JoseError as exc:
            return f"token refused: {exc.error}"
        except ValueError as exc:
            return f"token refused: {type(exc).__name__}"
        return None
