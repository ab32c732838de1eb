"""Local servers for the egress tests: an HTTP server that misbehaves on purpose (redirects,
huge and compressed bodies, drips, hangs, cookies) and a TCP listener that only counts
connections (to prove a refused request never connected)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from taskfactory_runtime.http_server import HttpServer

__all__ = ["ANY_METHOD", "HUGE_BYTES", "ConnectionCounter", "HostileServer", "hostile_server"]

#: What ``/huge`` offers: 300 MB, never sent whole to a client that stops reading.
HUGE_BYTES = 300 * 1024 * 1024
_CHUNK = b"x" * (64 * 1024)
#: How long the slow routes keep going at most (tests end well before).
_SLOW_SECONDS = 60.0
#: Every method (a Starlette route given none answers GET and HEAD only).
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _titled(headers: Headers) -> dict[str, str]:
    """``headers`` as a dict under their usual spelling (``Authorization``, ``X-Api-Key``):
    the server hands names over lowercased, and the tests look for the spelling a client sends."""
    return {
        "-".join(part.capitalize() for part in name.split("-")): value
        for name, value in headers.items()
    }


async def _client_gone(request: Request) -> None:
    """Return once the client has closed the connection (the request body is read first)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


@dataclass
class HostileServer:
    """A Starlette app on 127.0.0.1 with one route per hostile behaviour."""

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

    def app(self) -> ASGIApp:
        """The routes, each request recorded before it is answered."""
        routes = Starlette(
            routes=[
                Route("/json", self._json, methods=["GET"]),
                Route("/redirect", self._redirect, methods=ANY_METHOD),
                Route("/huge", self._huge, methods=["GET"]),
                Route("/gzip-bomb", self._gzip_bomb, methods=["GET"]),
                Route("/sized", self._sized, methods=["GET"]),
                Route("/drip", self._drip, methods=["GET"]),
                Route("/hang", self._hang, methods=["GET"]),
                Route("/set-cookie", self._set_cookie, methods=["GET"]),
                Route("/echo", self._echo, methods=ANY_METHOD),
                Route("/fail", self._fail, methods=ANY_METHOD),
            ]
        )

        async def recording(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                self.requests.append((scope["path"], _titled(Headers(scope=scope))))
            await routes(scope, receive, send)

        return recording

    async def _json(self, _: Request) -> Response:
        return JSONResponse({"ok": True})

    async def _redirect(self, request: Request) -> Response:
        status = int(request.query_params.get("status", "302"))
        return Response(status_code=status, headers={"Location": request.query_params["to"]})

    async def _huge(self, request: Request) -> Response:
        """300 MB in 64 KiB chunks (declared up front unless ``?chunked``), until the client
        stops reading."""
        declared = {} if "chunked" in request.query_params else {"Content-Length": str(HUGE_BYTES)}
        if request.method == "HEAD":
            return Response(headers=declared)
        return StreamingResponse(
            self._huge_chunks(), headers=declared, background=BackgroundTask(self.huge_done.set)
        )

    async def _huge_chunks(self) -> AsyncIterator[bytes]:
        # Starlette stops iterating (and then runs the background task) once the client is gone.
        while self.huge_sent < HUGE_BYTES:
            yield _CHUNK
            self.huge_sent += len(_CHUNK)
            # Once the client is gone, sending returns at once; this await lets Starlette's
            # disconnect watcher cancel the stream instead of the loop running to 300 MB.
            await asyncio.sleep(0)

    async def _gzip_bomb(self, _: Request) -> Response:
        """16 MiB of zeros that travel as about 16 KB."""
        body = gzip.compress(bytes(16 * 1024 * 1024), compresslevel=9)
        return Response(body, headers={"Content-Encoding": "gzip"})

    async def _sized(self, request: Request) -> Response:
        """A JSON string of ``?bytes=N`` characters."""
        return JSONResponse({"blob": "y" * int(request.query_params["bytes"])})

    async def _drip(self, _: Request) -> Response:
        """One byte every 50 ms (chunked): no single read ever waits long."""
        return StreamingResponse(self._drops())

    async def _drops(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _SLOW_SECONDS
        while loop.time() < deadline:
            yield b" "
            await asyncio.sleep(0.05)

    async def _hang(self, request: Request) -> Response:
        """No answer for a minute, or until the client gives up."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_client_gone(request), _SLOW_SECONDS)
        return JSONResponse({"late": True})

    async def _set_cookie(self, _: Request) -> Response:
        response = JSONResponse({"set": True})
        response.set_cookie("session", "cookie-of-another-task")
        return response

    async def _echo(self, request: Request) -> Response:
        return JSONResponse({"headers": _titled(request.headers)})

    async def _fail(self, request: Request) -> Response:
        status = int(request.query_params.get("status", 500))
        return JSONResponse({"error": "boom"}, status_code=status)


@asynccontextmanager
async def hostile_server() -> AsyncIterator[HostileServer]:
    """A :class:`HostileServer` listening on 127.0.0.1 (a free port)."""
    server = HostileServer()
    # The server stands for someone else's: its access lines (query strings included) are not
    # the project's logs, yet pytest captures them beside the egress client's, which the tests
    # read for leaked credentials. So it logs no access lines while it serves.
    access = logging.getLogger("uvicorn.access")
    was_disabled, access.disabled = access.disabled, True
    try:
        async with HttpServer(server.app(), host="127.0.0.1", port=0, name="hostile") as http:
            server.port = http.port
            yield server
    finally:
        access.disabled = was_disabled


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
