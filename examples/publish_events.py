"""Publish the example events of a folder (``*.json``, each a list of envelopes) to Kafka.

    uv run --frozen python examples/publish_events.py examples/loan-approval/events

Each event id gets a suffix unique to this call, so a second call is new work rather than a
duplicate. Reads ``TASKFACTORY_KAFKA__BOOTSTRAP_SERVERS`` and ``TASKFACTORY_TOPICS__EVENTS``.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from pathlib import Path

from taskfactory_contracts import AvroCodec
from taskfactory_runtime.kafka import make_producer
from taskfactory_runtime.settings import ServiceSettings
from taskfactory_stack.examples import load_example_events


async def main(folders: list[Path]) -> None:
    """Publish every event of every folder, keyed by subject, and wait for the acks."""
    settings = ServiceSettings()
    codec = AvroCodec()
    nonce = secrets.token_hex(3)
    producer = make_producer(settings.kafka, name="examples")
    await producer.start()
    try:
        for folder in folders:
            for envelope in load_example_events(folder, nonce=nonce):
                await producer.send_and_wait(
                    settings.topics.events,
                    codec.encode_envelope(envelope),
                    key=envelope.subject.encode(),
                )
                print(f"published {envelope.id} ({envelope.type}, subject {envelope.subject})")
    finally:
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(main([Path(p) for p in sys.argv[1:]]))
