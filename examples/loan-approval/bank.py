"""A stand-in bank for the loan-approval example (what ``context.bank.value.url`` points at).

    uv run --frozen python examples/loan-approval/bank.py [--port 8099]

It offers what the definition calls: ``POST /reservations`` → ``{"reservation_id": …}``,
``POST /reservations/<id>/release`` and ``POST /disbursements``. Like a real payment API it
pays a disbursement once per ``Idempotency-Key``: a retried request with the same key gets
the first payout's answer again. ``make run`` and the e2e tests start it in-process
(``Bank().app()``) and read what it was asked (``calls``, ``payouts``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["Bank", "Call"]


@dataclass(frozen=True)
class Call:
    """One request the bank received."""

    path: str
    idempotency_key: str | None
    body: Any


@dataclass
class Bank:
    """Reservations and disbursements, deduplicated by ``Idempotency-Key``.

    ``disbursement_status`` >= 400 makes every disbursement fail with that status (e.g. 422:
    the account is closed), to see the example's compensation.
    """

    disbursement_status: int = 201
    calls: list[Call] = field(default_factory=list)
    payouts: dict[str, Any] = field(default_factory=dict)

    def paths(self) -> list[str]:
        """The paths called, in order."""
        return [call.path for call in self.calls]

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one request of the loan-approval definition."""
        key = request.headers.get("Idempotency-Key")
        body: Any = await request.json() if request.can_read_body else {}
        self.calls.append(Call(request.path, key, body))
        if request.method != "POST":
            return web.json_response({"error": "only POST"}, status=405)
        if request.path == "/reservations":
            return web.json_response({"reservation_id": f"res-{body['application']}"}, status=201)
        if request.path.startswith("/reservations/") and request.path.endswith("/release"):
            return web.json_response({"released": request.path.split("/")[2]})
        if request.path == "/disbursements":
            if self.disbursement_status >= 400:
                return web.json_response(
                    {"error": "account closed"}, status=self.disbursement_status
                )
            if key is None:
                return web.json_response({"error": "Idempotency-Key required"}, status=400)
            self.payouts.setdefault(key, body)
            number = list(self.payouts).index(key) + 1
            return web.json_response({"disbursement_id": f"pay-{number}"}, status=201)
        return web.json_response({"error": f"no such path {request.path}"}, status=404)

    def app(self) -> web.Application:
        """An aiohttp application serving this bank on every path."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    options = parser.parse_args()
    web.run_app(Bank().app(), host=options.host, port=options.port)
