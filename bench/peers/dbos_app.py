"""DBOS peer: ``@DBOS.kafka_consumer`` into a one-step workflow that decodes the envelope.

Runs in the bench venv (``dbos``, ``confluent-kafka``, ``taskfactory-contracts``). Configured
by the environment: ``BENCH_DBOS_URL`` (system database), ``BENCH_KAFKA``, ``BENCH_TOPIC``,
``BENCH_GROUP``. Each record becomes the workflow ``kafka-unique-id-<topic>-...``; the
harness counts them by status in ``dbos.workflow_status``.
"""

from __future__ import annotations

import os
import signal
import threading

from dbos import DBOS, DBOSConfig, KafkaMessage

from taskfactory_contracts import AvroCodec

CODEC = AvroCodec()

DBOS(
    config=DBOSConfig(
        name="taskfactory-bench",
        system_database_url=os.environ["BENCH_DBOS_URL"],
        log_level="WARNING",
    )
)


@DBOS.step()
def decode(value: bytes) -> str:
    """The one step: decode and validate the envelope, as the ingress does."""
    return CODEC.decode_envelope(value).id


@DBOS.kafka_consumer(
    config={"bootstrap.servers": os.environ["BENCH_KAFKA"], "group.id": os.environ["BENCH_GROUP"]},
    topics=[os.environ["BENCH_TOPIC"]],
)
@DBOS.workflow()
def on_event(msg: KafkaMessage) -> str:
    assert msg.value is not None
    decoded: str = decode(msg.value)  # a DBOS step: its decorator is untyped
    return decoded


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    DBOS.launch()
    print("dbos-app ready", flush=True)
    stop.wait()
    DBOS.destroy(workflow_completion_timeout_sec=0)


if __name__ == "__main__":
    main()
