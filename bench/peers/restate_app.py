"""Restate peer: a service whose one handler runs one durable step that decodes the envelope.

Runs in the bench venv (``restate-sdk``, ``hypercorn``, ``taskfactory-contracts``) as
``python restate_app.py PORT``; the harness registers it with the Restate server and points a
Kafka subscription at ``service://BenchSink/handle``. The record value arrives as raw bytes.
"""

from __future__ import annotations

import asyncio
import sys

import hypercorn.asyncio
import hypercorn.config
import restate
from restate.serde import BytesSerde

from taskfactory_contracts import AvroCodec

CODEC = AvroCodec()
sink = restate.Service("BenchSink")


async def decode(value: bytes) -> str:
    return CODEC.decode_envelope(value).id


@sink.handler(accept="*/*", input_serde=BytesSerde())
async def handle(ctx: restate.Context, value: bytes) -> str:
    """The one step: decode and validate the envelope, journaled by Restate."""
    decoded: str = await ctx.run_typed("decode", decode, value=value)
    return decoded


def main() -> None:
    config = hypercorn.config.Config()
    config.bind = [f"127.0.0.1:{sys.argv[1]}"]
    config.loglevel = "WARNING"
    config.accesslog = None
    app = restate.app(services=[sink])
    asyncio.run(hypercorn.asyncio.serve(app, config))


if __name__ == "__main__":
    main()
