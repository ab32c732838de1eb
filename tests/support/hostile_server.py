"""Local servers for the egress tests: an HTTP server that misbehaves on purpose (redirects,
huge and compressed bodies, drips, hangs, cookies) and a TCP listener that only counts
connections (to prove a refused request never connected)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["HUGE_BYTES", "ConnectionCounter", "HostileServer", "hostile_server"]

#: What ``/huge`` offers: 300 MB, never sent whole to a client that stops reading.
HUGE_BYTES = 300 * 1024 * 1024
_CHUNK = b"x" * (64 * 1024)
#: How long the slow routes keep going at most (tests end well before).
_SLOW_SECONDS = 60.0


@dataclass
class HostileServer:
    """An aiohttp app on 127.0.0.1 with one route per hostile behaviour."""

    port: int = 0
    #: Every request seen: (path, headers).
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    #: Body bytes ``/huge`` wrote before the client went away.
    huge_sent: int = 0
    huge_done: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """The URL of ``path`` here (``host`` may be another name of 127.0.0.1)."""
        return f"http://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [path for path, _ in self.requests]

    def app(self) -> web.Application:
        """The routes."""
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/json", self._json)
        app.router.add_route("*", "/redirect", self._redirect)
        app.router.add_get("/huge", self._huge)
        app.router.add_get("/gzip-bomb", self._gzip_bomb)
        app.router.add_get("/sized", self._sized)
        app.router.add_get("/drip", self._drip)
        app.router.add_get("/hang", self._hang)
        app.router.add_get("/set-cookie", self._set_cookie)
        app.router.add_route("*", "/echo", self._echo)
        app.router.add_route("*", "/fail", self._fail)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.headers)))
        response: web.StreamResponse = await handler(request)
        return response

    async def _json(self, _: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def _redirect(self, request: web.Request) -> web.Response:
        status = int(request.query.get("status", "302"))
        return web.Response(status=status, headers={"Location": request.query["to"]})

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        """300 MB in 64 KiB chunks (declared up front unless ``?chunked``), until the client
        stops reading."""
        response = web.StreamResponse()
        if "chunked" in request.query:
            response.enable_chunked_encoding()
        else:
            response.content_length = HUGE_BYTES
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        try:
            while self.huge_sent < HUGE_BYTES:
                await response.write(_CHUNK)
                self.huge_sent += len(_CHUNK)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.huge_done.set()
        return response

    async def _gzip_bomb(self, _: web.Request) -> web.Response:
        """16 MiB of zeros that travel as about 16 KB."""
        body = gzip.compress(bytes(16 * 1024 * 1024), compresslevel=9)
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    async def _sized(self, request: web.Request) -> web.Response:
        """A JSON string of ``?bytes=N`` characters."""
        return web.json_response({"blob": "y" * int(request.query["bytes"])})

    async def _drip(self, request: web.Request) -> web.StreamResponse:
        """One byte every 50 ms: no single read ever waits long."""
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _SLOW_SECONDS
        try:
            while loop.time() < deadline:
                await response.write(b" ")
                await asyncio.sleep(0.05)
        except ConnectionError:
            pass
        return response

    async def _hang(self, _: web.Request) -> web.Response:
        await asyncio.sleep(_SLOW_SECONDS)
        return web.json_response({"late": True})

    async def _set_cookie(self, _: web.Request) -> web.Response:
        response = web.json_response({"set": True})
        response.set_cookie("session", "cookie-of-another-task")
        return response

    async def _echo(self, request: web.Request) -> web.Response:
        return web.json_response({"headers": dict(request.headers)})

    async def _fail(self, request: web.Request) -> web.Response:
        return web.json_response({"error": "boom"}, status=int(request.query.get("status", 500)))


@asynccontextmanager
async def hostile_server() -> AsyncIterator[HostileServer]:
    """A :class:`HostileServer` listening on 127.0.0.1 (a free port)."""
    server = HostileServer()
    runner = web.AppRunner(server.app(), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    try:
        yield server
    finally:
        await runner.cleanup()


@dataclass
class ConnectionCounter:
    """A TCP listener on 127.0.0.1 that counts and closes connections."""

    port: int = 0
    connections: int = 0
    _server: asyncio.Server | None = None

    async def _accept(self, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()

    async def __aenter__(self) -> ConnectionCounter:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
