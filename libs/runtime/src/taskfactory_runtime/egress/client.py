"""The HTTP client of task egress: the policy enforced where connections are made.

:class:`Egress` wraps one ``httpx.AsyncClient`` whose connection pool opens every TCP
connection through :class:`GuardedBackend`: it resolves the host once, checks *every* address
against the policy and connects to a checked address — so a DNS answer that changes between a
check and the connect (rebinding) reaches nothing the policy refuses. Redirects are followed
here, hop by hop (scheme, origin and addresses checked again), never by httpx. The body is
streamed and cut at ``max_response_bytes``; the whole exchange runs under one deadline.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json as jsonlib
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpcore
import httpx

from taskfactory_runtime.egress import errors
from taskfactory_runtime.egress.policy import EgressPolicy, EgressSettings, IPAddress
from taskfactory_runtime.egress.redact import (
    install_httpx_log_redaction,
    is_sensitive_name,
    redact_url,
    scrub,
    secrets_of,
)

__all__ = ["Egress", "EgressResponse", "GuardedBackend", "resolve_checked"]

_ENV = "TASKFACTORY_EGRESS__"
_DEFAULT_PORTS = {"http": 80, "https": 443}


async def resolve_checked(policy: EgressPolicy, host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to, each allowed by ``policy`` (else ``EgressRefused``).

    The system resolver also reads numeric forms (``2130706433``, ``0x7f.1``, ``127.1``), so
    the check sees the address a connection would really go to.
    """
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise errors.EgressUnreachable(f"host {host!r} did not resolve: {exc}") from None
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    policy.check_addresses(host, addresses)
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy allows."""

    def __init__(self, policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend | None = None):
        self._policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve, check every address, connect to the first checked one that answers."""
        addresses = await resolve_checked(self._policy, host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # resolve_checked returns at least one address
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: tasks reach hosts, not local sockets."""
        raise errors.EgressRefused("unix sockets are not reachable by tasks")

    async def sleep(self, seconds: float) -> None:
        """Delegate (httpcore sleeps between connect retries)."""
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with its pool on :class:`GuardedBackend`.

    httpx 0.28 has no parameter for the pool's network backend (httpcore's documented extension
    point), so the pool its constructor builds is replaced by the same pool with the backend.
    """

    def __init__(self, backend: httpcore.AsyncNetworkBackend, limits: httpx.Limits) -> None:
        ssl_context = httpx.create_ssl_context()
        super().__init__(verify=ssl_context, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


@dataclass(frozen=True)
class EgressResponse:
    """A complete, size-bounded response."""

    status: int
    headers: httpx.Headers
    content: bytes
    #: The URL that answered (after redirects), credentials masked.
    url: str

    @property
    def text(self) -> str:
        """The body as text (the response's charset, else UTF-8; bad bytes replaced)."""
        charset = httpx.Response(self.status, headers=self.headers).charset_encoding
        try:
            return self.content.decode(charset or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` if it is not JSON."""
        return jsonlib.loads(self.content)

    def body(self) -> Any:
        """JSON if the body is JSON, else its text; ``None`` when empty."""
        if not self.content:
            return None
        try:
            return self.json()
        except ValueError:
            return self.text


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme))


def _no_cookies() -> CookieJar:
    # One client serves every task: a cookie one server sets must not reach another task.
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class Egress:
    """Requests on behalf of tasks and context sources, under one :class:`EgressSettings`."""

    def __init__(self, settings: EgressSettings, *, max_connections: int = 100) -> None:
        self.settings = settings
        self.policy = EgressPolicy(settings)
        install_httpx_log_redaction()
        limits = httpx.Limits(max_connections=max_connections)
        self._client = httpx.AsyncClient(
            transport=_GuardedTransport(GuardedBackend(self.policy), limits),
            follow_redirects=False,
            trust_env=False,  # no proxies or .netrc credentials from the environment
            cookies=_no_cookies(),
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def timeout_for(self, requested: float | None) -> float:
        """``requested`` capped at ``max_timeout_seconds`` (the cap when ``None``)."""
        cap = self.settings.max_timeout_seconds
        return cap if requested is None else min(requested, cap)

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        timeout_seconds: float | None = None,
    ) -> EgressResponse:
        """Send one request (following redirects as the policy allows); raise ``EgressError``.

        Error messages name the URL with its credentials masked and never chain the library's
        exception (its text may hold them).
        """
        secrets = secrets_of(url, headers)
        seconds = self.timeout_for(timeout_seconds)
        try:
            async with asyncio.timeout(seconds):
                return await self._exchange(method, url, headers, json, seconds, secrets)
        except errors.EgressError:
            raise
        except (TimeoutError, httpx.TimeoutException):
            capped = timeout_seconds is not None and timeout_seconds > seconds
            cap = f" (timeout {timeout_seconds:g} s capped by {_ENV}MAX_TIMEOUT_SECONDS)"
            raise errors.EgressTimeout(
                f"no complete answer within {seconds:g} s" + (cap if capped else "")
            ) from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise errors.InvalidRequest(scrub(f"invalid URL: {exc}", secrets)) from None
        except (httpx.LocalProtocolError, UnicodeError) as exc:
            # The library's text quotes the offending header value, credentials included.
            raise errors.InvalidRequest(
                f"request cannot be sent ({type(exc).__name__}): a header name or value holds "
                "a line break, a control or a non-ASCII character"
            ) from None
        except (ValueError, TypeError) as exc:  # e.g. a body JSON cannot hold
            raise errors.InvalidRequest(
                scrub(f"request cannot be sent: {type(exc).__name__}: {exc}", secrets)
            ) from None
        except httpx.HTTPError as exc:
            raise errors.EgressUnreachable(scrub(f"{type(exc).__name__}: {exc}", secrets)) from None

    async def _exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        json: Any,
        seconds: float,
        secrets: set[str],
    ) -> EgressResponse:
        # Checked before the client sees it: httpx merges a URL without a host (file:///x,
        # //x, http:///x) with its base URL, losing the scheme.
        self._check_url(httpx.URL(url))
        request = self._client.build_request(
            method, url, headers=headers, json=json, timeout=seconds
        )
        hop = 0
        while True:
            response = await self._client.send(request, stream=True)
            try:
                if not response.has_redirect_location:
                    return await self._read(response)
                target = response.next_request
                assert target is not None  # httpx sets it for a redirect it did not follow
                self._check_redirect(request, target, response.status_code, hop)
                secrets |= secrets_of(target.url)
            finally:
                await response.aclose()
            request, hop = target, hop + 1

    def _check_url(self, url: httpx.URL) -> None:
        self.policy.check_scheme(url.scheme)
        if not url.host:
            raise errors.InvalidRequest(f"URL {redact_url(url)} names no host")

    def _check_redirect(
        self, request: httpx.Request, target: httpx.Request, status: int, hop: int
    ) -> None:
        policy = self.settings.redirects
        where = f"HTTP {status} redirect to {redact_url(target.url)}"
        same_origin = _origin(request.url) == _origin(target.url)
        if policy == "off":
            raise errors.EgressRefused(f"{where} not followed (redirects are off; {_ENV}REDIRECTS)")
        if policy == "same-origin" and not same_origin:
            raise errors.EgressRefused(
                f"{where} not followed: another origin ({_ENV}REDIRECTS is same-origin)"
            )
        if hop >= self.settings.max_redirects:
            raise errors.EgressRefused(
                f"{where} not followed: more than {self.settings.max_redirects} redirects "
                f"({_ENV}MAX_REDIRECTS)"
            )
        self._check_url(target.url)
        if not same_origin:
            # httpx drops Authorization on a cross-origin hop; keys and tokens go the same way.
            for name in [n for n in target.headers if is_sensitive_name(n)]:
                del target.headers[name]

    async def _read(self, response: httpx.Response) -> EgressResponse:
        limit = self.settings.max_response_bytes
        where = f"response of {redact_url(response.url)}"
        # A HEAD answer declares the size of a body it does not send.
        declared = (
            "" if response.request.method == "HEAD" else response.headers.get("Content-Length", "")
        )
        if declared.isdigit() and int(declared) > limit:
            raise errors.ResponseTooLarge(
                f"{where} declares {int(declared)} bytes, above the {limit}-byte limit "
                f"({_ENV}MAX_RESPONSE_BYTES)"
            )
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > limit:
                raise errors.ResponseTooLarge(
                    f"{where} is larger than the {limit}-byte limit ({_ENV}MAX_RESPONSE_BYTES); "
                    f"stopped reading at {len(body)} bytes"
                )
        return EgressResponse(
            response.status_code, response.headers, bytes(body), redact_url(response.url)
        )
