"""Serving an ASGI app inside a service process: the one adapter over uvicorn.

Every HTTP server of the project (health and metrics, the codec server, the admin API) is a
Starlette/FastAPI app served by :class:`HttpServer`: the socket is bound here, so the port is
known (port 0 included) before uvicorn accepts on it and no private attribute is read; the
service keeps its own signal handling (uvicorn's is switched off); ``async with`` stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp, Message, Receive

__all__ = ["HttpServer", "read_body"]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The service's own SIGTERM handling drains and stops everything, this server included;
        # uvicorn's would stop only the HTTP server and swallow the signal meanwhile.
        yield


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class HttpServer:
    """Serves ``app`` on ``host``:``port``; ``port`` is the bound one once started."""

    def __init__(self, app: ASGIApp, *, host: str, port: int, name: str) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.name = name
        self._server: _Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    async def start(self) -> None:
        """Bind and serve; connections queue from here on (the socket is listening)."""
        self._socket = _bind(self.host, self.port)
        self.port = int(self._socket.getsockname()[1])
        # Never an access line: it carries the query string (a token there would be logged), and
        # a handler on the logger itself (pytest's capture) would see it despite access_log=False.
        logging.getLogger("uvicorn.access").disabled = True
        config = uvicorn.Config(
            self.app, log_config=None, access_log=False, lifespan="off", server_header=False
        )
        self._server = _Server(config)
        self._serving = asyncio.create_task(
            self._server.serve(sockets=[self._socket]), name=f"http-{self.name}"
        )

    async def stop(self) -> None:
        """Stop accepting, finish the requests under way, close the socket."""
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await self._serving
        if self._socket is not None:
            self._socket.close()
        self._server = self._serving = self._socket = None

    async def __aenter__(self) -> HttpServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or ``None`` once it passes ``limit`` (the rest is never read)."""
    chunks: list[bytes] = []
    seen = 0
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
