"""A stand-in bank for the loan-approval example (what ``context.bank.value.url`` points at).

    uv run --frozen python examples/loan-approval/bank.py [--port 8099]

It offers what the definition calls: ``POST /reservations`` → ``{"reservation_id": …}``,
``POST /reservations/<id>/release`` and ``POST /disbursements``. Like a real payment API it
pays a disbursement once per ``Idempotency-Key``: a retried request with the same key gets
the first payout's answer again. ``make run`` and the e2e tests start it in-process
(``Bank().app()``) and read what it was asked (``calls``, ``payouts``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from taskfactory_stack import stand_ins

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

    async def handle(self, request: Request) -> JSONResponse:
        """Answer one request of the loan-approval definition."""
        key = request.headers.get("Idempotency-Key")
        path = request.url.path
        body: Any = await stand_ins.json_body(request, empty={})
        self.calls.append(Call(path, key, body))
        if request.method != "POST":
            return JSONResponse({"error": "only POST"}, status_code=405)
        if path == "/reservations":
            return JSONResponse({"reservation_id": f"res-{body['application']}"}, status_code=201)
        if path.startswith("/reservations/") and path.endswith("/release"):
            return JSONResponse({"released": path.split("/")[2]})
        if path == "/disbursements":
            if self.disbursement_status >= 400:
                return JSONResponse(
                    {"error": "account closed"}, status_code=self.disbursement_status
                )
            if key is None:
                return JSONResponse({"error": "Idempotency-Key required"}, status_code=400)
            self.payouts.setdefault(key, body)
            number = list(self.payouts).index(key) + 1
            return JSONResponse({"disbursement_id": f"pay-{number}"}, status_code=201)
        return JSONResponse({"error": f"no such path {path}"}, status_code=404)

    def app(self) -> Starlette:
        """A Starlette application serving this bank on every path and method."""
        return stand_ins.application([Route("/{path:path}", self.handle, methods=_EVERY_METHOD)])


_EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

if __name__ == "__main__":
    stand_ins.main(Bank().app(), description=__doc__.split("\n")[0], port=8099)
