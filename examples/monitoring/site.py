"""A stand-in for the site the monitoring example watches (``context.target.value.url``).

    uv run --frozen python examples/monitoring/site.py [--port 8098]

``GET /status`` answers ``{"status": "ok"}``; change what it says with
``curl -X PUT localhost:8098/status -d '{"status": "degraded"}'``. ``make run`` and the e2e
tests start it in-process (``StatusPage().app()``) and set ``status`` directly.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from aiohttp import web

__all__ = ["StatusPage"]


@dataclass
class StatusPage:
    """Serves ``{"status": status}`` at ``/status``; counts how often it was fetched."""

    status: str = "ok"
    served: int = 0

    async def get(self, request: web.Request) -> web.Response:
        """The status document the monitor fetches."""
        self.served += 1
        return web.json_response({"status": self.status})

    async def put(self, request: web.Request) -> web.Response:
        """Set the status (body ``{"status": "…"}``)."""
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            return web.json_response({"error": 'expected {"status": "<text>"}'}, status=400)
        self.status = body["status"]
        return web.json_response({"status": self.status})

    def app(self) -> web.Application:
        """An aiohttp application serving ``/status``."""
        app = web.Application()
        app.router.add_get("/status", self.get)
        app.router.add_put("/status", self.put)
        return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8098)
    options = parser.parse_args()
    web.run_app(StatusPage().app(), host=options.host, port=options.port)
