"""Serving the examples' stand-in servers (the bank, the status page): in-process or on their own.

They are Starlette apps served by the services' own :class:`HttpServer`, on the loopback by
default: ``make run`` and the e2e tests serve them on a free port inside their process
(:func:`serve`); ``python examples/loan-approval/bank.py`` serves one until Ctrl-C
(:func:`main`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from taskfactory_runtime.http_server import HttpServer
from taskfactory_stack.errors import BadJson

__all__ = ["application", "json_body", "main", "serve"]


async def json_body(request: Request, *, empty: Any = None) -> Any:
    """The request's JSON body (``empty`` when there is none); :class:`BadJson` if not JSON."""
    raw = await request.body()
    if not raw:
        return empty
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadJson(f"the body is not JSON: {exc}") from exc


async def _bad_json(_: Request, exc: Exception) -> Response:
    return JSONResponse({"error": str(exc)}, status_code=400)


def application(routes: Sequence[BaseRoute]) -> Starlette:
    """A stand-in's application: ``routes``, and a 400 naming the fault for a body not JSON."""
    return Starlette(routes=list(routes), exception_handlers={BadJson: _bad_json})


@contextlib.asynccontextmanager
async def serve(app: ASGIApp, port: int = 0, host: str = "127.0.0.1") -> AsyncIterator[int]:
    """Serve ``app`` on ``host`` (``port`` 0: a free one); yields the port."""
    async with HttpServer(app, host=host, port=port, name="stand-in") as server:
        yield server.port


async def _serve_until_cancelled(app: ASGIApp, host: str, port: int) -> None:
    async with serve(app, port, host) as bound:
        print(f"serving on http://{host}:{bound} (Ctrl-C stops)", flush=True)
        await asyncio.Event().wait()


def main(app: ASGIApp, *, description: str, port: int, argv: Sequence[str] | None = None) -> None:
    """The command line of a stand-in: ``[--host 127.0.0.1] [--port <port>]``, until Ctrl-C."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    options = parser.parse_args(argv)
    try:
        asyncio.run(_serve_until_cancelled(app, options.host, options.port))
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # the port is taken, the host is not ours: one line, exit 1
        raise SystemExit(f"cannot serve on {options.host}:{options.port}: {exc}") from None
