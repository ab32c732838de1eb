"""The examples' stand-in bank and status page, served for real: what they answer, and their CLI."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest

from taskfactory_stack.examples import LOAN, MONITORING, load_example, serve


@asynccontextmanager
async def _served(stand_in: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    async with AsyncExitStack() as stack:
        port = await stack.enter_async_context(serve(stand_in.app()))
        http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}")
        yield stand_in, await stack.enter_async_context(http)


@pytest.fixture
async def bank() -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    async with _served(load_example(LOAN / "bank.py").Bank()) as served:
        yield served


@pytest.fixture
async def page() -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    async with _served(load_example(MONITORING / "site.py").StatusPage()) as served:
        yield served


async def test_the_bank_pays_once_per_idempotency_key(bank: tuple[Any, httpx.AsyncClient]) -> None:
    stand_in, http = bank
    reserved = await http.post("/reservations", json={"application": "a-1"})
    assert (reserved.status_code, reserved.json()) == (201, {"reservation_id": "res-a-1"})
    key = {"Idempotency-Key": "loan-a-1"}
    first = await http.post("/disbursements", json={"amount": 100}, headers=key)
    again = await http.post("/disbursements", json={"amount": 100}, headers=key)
    other = await http.post("/disbursements", json={"amount": 5}, headers={"Idempotency-Key": "b"})
    assert [r.json() for r in (first, again, other)] == [
        {"disbursement_id": "pay-1"},
        {"disbursement_id": "pay-1"},
        {"disbursement_id": "pay-2"},
    ]
    assert stand_in.payouts == {"loan-a-1": {"amount": 100}, "b": {"amount": 5}}
    released = await http.post("/reservations/res-a-1/release")
    assert released.json() == {"released": "res-a-1"}
    assert stand_in.paths()[-1] == "/reservations/res-a-1/release"


async def test_the_bank_refuses_what_a_payment_api_would(
    bank: tuple[Any, httpx.AsyncClient],
) -> None:
    stand_in, http = bank
    unkeyed = await http.post("/disbursements", json={"amount": 1})
    assert (unkeyed.status_code, unkeyed.json()) == (400, {"error": "Idempotency-Key required"})
    garbled = await http.post("/disbursements", content=b"{", headers={"Idempotency-Key": "k"})
    assert garbled.status_code == 400
    assert garbled.json()["error"].startswith("the body is not JSON")
    assert (await http.get("/disbursements")).status_code == 405
    assert (await http.post("/loans")).json() == {"error": "no such path /loans"}
    assert stand_in.payouts == {}
    stand_in.disbursement_status = 422
    closed = await http.post("/disbursements", json={}, headers={"Idempotency-Key": "k"})
    assert (closed.status_code, closed.json()) == (422, {"error": "account closed"})


async def test_the_status_page_serves_what_it_was_last_told(
    page: tuple[Any, httpx.AsyncClient],
) -> None:
    stand_in, http = page
    assert (await http.get("/status")).json() == {"status": "ok"}
    changed = await http.put("/status", content=b'{"status": "degraded"}')
    assert changed.json() == {"status": "degraded"}
    for wrong in (b'{"state": "down"}', b"degraded", b""):
        refused = await http.put("/status", content=wrong)
        assert refused.status_code == 400, wrong
    assert (await http.get("/status")).json() == {"status": "degraded"}
    assert stand_in.served == 2
    assert (await http.post("/status")).status_code == 405


def test_a_stand_in_on_its_own_serves_until_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, str(MONITORING / "site.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        # Whoever started the tests may ignore SIGINT; a user's terminal does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # bounded by the test timeout
        assert line.startswith("serving on http://127.0.0.1:"), line
        url = line.split()[2]
        assert httpx.get(f"{url}/status").json() == {"status": "ok"}
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_stand_in_on_a_taken_port_says_so_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, str(LOAN / "bank.py"), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"cannot serve on 127.0.0.1:{port}: "), line
    assert "in use" in line, line
