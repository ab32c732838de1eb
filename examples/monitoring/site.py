"""A stand-in for the site the monitoring example watches (``context.target.value.url``).

    uv run --frozen python examples/monitoring/site.py [--port 8098]

``GET /status`` answers ``{"status": "ok"}``; change what it says with
``curl -X PUT localhost:8098/status -d '{"status": "degraded"}'``. ``make run`` and the e2e
tests start it in-process (``StatusPage().app()``) and set ``status`` directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from taskfactory_stack import stand_ins

__all__ = ["StatusPage"]


@dataclass
class StatusPage:
    """Serves ``{"status": status}`` at ``/status``; counts how often it was fetched."""

    status: str = "ok"
    served: int = 0

    async def get(self, request: Request) -> JSONResponse:
        """The status document the monitor fetches."""
        self.served += 1
        return JSONResponse({"status": self.status})

    async def put(self, request: Request) -> JSONResponse:
        """Set the status (body ``{"status": "…"}``)."""
        body = await stand_ins.json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            return JSONResponse({"error": 'expected {"status": "<text>"}'}, status_code=400)
        self.status = body["status"]
        return JSONResponse({"status": self.status})

    def app(self) -> Starlette:
        """A Starlette application serving ``/status``."""
        return stand_ins.application(
            [
                Route("/status", self.get, methods=["GET"]),
                Route("/status", self.put, methods=["PUT"]),
            ]
        )


if __name__ == "__main__":
    stand_ins.main(StatusPage().app(), description=__doc__.split("\n")[0], port=8098)
