"""``make schemas-check``: our own compatibility gate, then the schema registry's, if configured.

The gate of :mod:`taskfactory_contracts.compat` runs first (Apache avro's rules plus logical
types). With ``TASKFACTORY_KAFKA__SCHEMA_REGISTRY_URL`` set, the registry is asked too: the
envelope subject (``<events topic>-value``) must enforce ``BACKWARD_TRANSITIVE`` (or
``FULL_TRANSITIVE``), and every shipped envelope version must be compatible, by the registry's
own rules, with every version registered under it, so a new version is known to pass before
the first producer registers it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from taskfactory_contracts import ENVELOPE
from taskfactory_contracts.compat import main as compat_main
from taskfactory_contracts.confluent import topic_name_subject
from taskfactory_contracts.schemas import SchemaStore
from taskfactory_runtime.schema_registry import registry_client_config
from taskfactory_runtime.settings import KafkaSettings, ServiceSettings

__all__ = ["TRANSITIVE", "main", "registry_problems"]

#: Levels under which a new version is checked against every registered one.
TRANSITIVE = frozenset({"BACKWARD_TRANSITIVE", "FULL_TRANSITIVE"})


async def registry_problems(store: SchemaStore, kafka: KafkaSettings, subject: str) -> list[str]:
    """Why the registry would refuse the shipped envelope versions under ``subject``."""
    from confluent_kafka.schema_registry import AsyncSchemaRegistryClient, Schema
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    client = AsyncSchemaRegistryClient(registry_client_config(kafka))
    try:
        try:
            level = await client.get_compatibility(subject)
        except SchemaRegistryError as exc:
            if exc.http_status_code != 404:
                raise
            level = await client.get_compatibility()  # the subject follows the global level
        if level not in TRANSITIVE:
            return [
                f"registry: subject {subject} enforces {level}, not BACKWARD_TRANSITIVE: "
                f"a new envelope version would not be checked against every older one "
                f'(PUT /config/{subject} {{"compatibility": "BACKWARD_TRANSITIVE"}})'
            ]
        try:
            versions = await client.get_versions(subject)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                return []  # nothing registered yet: any first version is accepted
            raise
        problems: list[str] = []
        for shipped in store.versions(ENVELOPE):
            schema = Schema(shipped.json, "AVRO")
            for version in versions:
                if not await client.test_compatibility(subject, schema, version=version):
                    problems.append(
                        f"registry: {ENVELOPE} v{shipped.version} is not compatible ({level}) "
                        f"with version {version} of subject {subject}"
                    )
        return problems
    finally:
        await client.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    """Our gate on the schema folder, then the registry's when one is configured."""
    args = list(sys.argv[1:] if argv is None else argv)
    code = compat_main(args)
    if code != 0:
        return code
    settings = ServiceSettings()
    if not settings.kafka.schema_registry_url:
        return 0
    store = SchemaStore(Path(args[0] if args else "schemas/avro"))
    subject = topic_name_subject(settings.topics.events)
    try:
        problems = asyncio.run(registry_problems(store, settings.kafka, subject))
    except Exception as exc:  # the registry's answer is the point: report, do not trace back
        print(
            f"schemas-check: registry {settings.kafka.schema_registry_url}: {exc}", file=sys.stderr
        )
        return 2
    for problem in problems:
        print(f"schemas-check: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"schemas-check: registry accepts every envelope version under {subject}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
