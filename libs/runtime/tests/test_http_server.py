"""HttpServer: serves on the port it reports (port 0 too), leaves signals to the service, stops."""

from __future__ import annotations

import signal

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from taskfactory_runtime.http_server import HttpServer


async def _hello(_: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


APP = Starlette(routes=[Route("/", _hello)])


async def test_it_serves_on_the_port_it_reports_and_refuses_connections_once_stopped() -> None:
    async with HttpServer(APP, host="127.0.0.1", port=0, name="test") as server:
        assert server.port != 0
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"http://127.0.0.1:{server.port}/")
        assert (answer.status_code, answer.text) == (200, "hello")
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(f"http://127.0.0.1:{server.port}/")


async def test_the_services_signal_handlers_stay_in_place_while_it_serves() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    async with HttpServer(APP, host="127.0.0.1", port=0, name="test") as server:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{server.port}/")).status_code == 200
        # A SIGTERM must reach the service (which drains everything), not stop this server.
        assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


async def test_a_port_in_use_is_an_error_at_start() -> None:
    async with HttpServer(APP, host="127.0.0.1", port=0, name="first") as first:
        with pytest.raises(OSError, match="in use"):
            await HttpServer(APP, host="127.0.0.1", port=first.port, name="second").start()
