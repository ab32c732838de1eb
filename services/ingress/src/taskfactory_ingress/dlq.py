"""``taskfactory dlq list|replay``: inspect dead letters and re-publish them to their source topic.

Replay sends the original key, value and headers (without taskfactory's error headers) back to
the topic they came from, so once a schema, definition or limit is fixed they flow again; their
deterministic workflow ids keep a replay idempotent.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from taskfactory_contracts import names
from taskfactory_ingress.dead_letter import HEADER_ERROR_CLASS, HEADER_NULL_VALUE, HEADER_STUB
from taskfactory_ingress.settings import IngressSettings
from taskfactory_runtime.kafka import client_kwargs, make_producer, topic_partitions

__all__ = ["DeadLetter", "Selection", "app", "read_dead_letters"]

app = typer.Typer(
    help="Dead letters: list them, replay them to their source topic.", no_args_is_help=True
)

_OURS = (
    names.HEADER_ERROR_TYPE,
    names.HEADER_ERROR_MESSAGE,
    names.HEADER_SOURCE_TOPIC,
    names.HEADER_SOURCE_PARTITION,
    names.HEADER_SOURCE_OFFSET,
    names.HEADER_SOURCE_TIMESTAMP,
    "taskfactory-ingress-version",
    "taskfactory-dead-lettered-at",
    HEADER_ERROR_CLASS,
    HEADER_NULL_VALUE,
)


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered record and why."""

    record: ConsumerRecord[bytes, bytes]
    error_type: str
    message: str
    source_topic: str
    source_partition: int
    source_offset: int

    @property
    def source(self) -> str:
        """Where the record was read from: ``topic/partition@offset``."""
        return f"{self.source_topic}/{self.source_partition}@{self.source_offset}"

    @property
    def original_headers(self) -> list[tuple[str, bytes]]:
        """The headers the record had before the ingress added its own."""
        return [(k, v) for k, v in self.record.headers or () if k not in _OURS]

    @property
    def is_stub(self) -> bool:
        """Whether only a stub was kept (the original was too large for this topic)."""
        return any(k == HEADER_STUB for k, _ in self.record.headers or ())

    @property
    def original_value(self) -> bytes | None:
        """The value the record had (``None`` for a record with neither key nor value)."""
        if any(k == HEADER_NULL_VALUE for k, _ in self.record.headers or ()):
            return None
        return bytes(self.record.value) if self.record.value is not None else None


def _parse(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    headers = {k: v.decode("utf-8", "replace") for k, v in record.headers or ()}
    return DeadLetter(
        record=record,
        error_type=headers.get(names.HEADER_ERROR_TYPE, "unknown"),
        message=headers.get(names.HEADER_ERROR_MESSAGE, ""),
        source_topic=headers.get(names.HEADER_SOURCE_TOPIC, ""),
        source_partition=int(headers.get(names.HEADER_SOURCE_PARTITION, "-1")),
        source_offset=int(headers.get(names.HEADER_SOURCE_OFFSET, "-1")),
    )


async def read_dead_letters(settings: IngressSettings, topic: str) -> list[DeadLetter]:
    """Every record on the dead-letter topic up to its current end."""
    consumer = AIOKafkaConsumer(**client_kwargs(settings.kafka), enable_auto_commit=False)
    try:
        await consumer.start()
        tps = await topic_partitions(consumer, topic)
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[DeadLetter] = []
        remaining = {tp for tp in tps if ends[tp] > await consumer.position(tp)}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                out.extend(_parse(r) for r in records if r.offset < ends[tp])
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class Selection:
    """Which dead letters a command acts on: the options ``dlq list`` and ``dlq replay`` share."""

    error_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    offsets: tuple[int, int] | None = None
    topic: str | None = None

    def __contains__(self, letter: DeadLetter) -> bool:
        when = datetime.fromtimestamp(letter.record.timestamp / 1000, UTC)
        return (
            (not self.error_type or letter.error_type == self.error_type)
            and (not self.since or when >= self.since)
            and (not self.until or when <= self.until)
            and (not self.offsets or self.offsets[0] <= letter.source_offset <= self.offsets[1])
        )

    def read(self) -> tuple[IngressSettings, list[DeadLetter], list[DeadLetter]]:
        """The settings, every dead letter on the topic, and those selected."""
        settings = IngressSettings()
        letters = asyncio.run(
            read_dead_letters(settings, self.topic or settings.topics.dead_letter)
        )
        return settings, letters, [letter for letter in letters if letter in self]


def _offset_range(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        low, _, high = value.partition("-")
        return int(low), int(high or low)
    except ValueError:
        raise typer.BadParameter(f"expected FROM-TO source offsets, got {value!r}") from None


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _selection(
    error_type: Annotated[
        str | None, typer.Option(help="Only this reason (malformed, unknown_schema, …).")
    ] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Dead-lettered at or after (ISO 8601, UTC).")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="Dead-lettered at or before (ISO 8601, UTC).")
    ] = None,
    source_offsets: Annotated[str | None, typer.Option(help="Source offset range FROM-TO.")] = None,
    topic: Annotated[
        str | None, typer.Option(help="Dead-letter topic (default: the configured one).")
    ] = None,
) -> Selection:
    """The options that select dead letters; a bad one fails here, before any I/O."""
    return Selection(error_type, _utc(since), _utc(until), _offset_range(source_offsets), topic)


def _selecting(command: Callable[..., None]) -> Callable[..., None]:
    """``command(selection, …)`` as a typer command: the options of :func:`_selection` first,
    then the command's own (typer reads a command's options from its signature)."""
    options = inspect.signature(_selection, eval_str=True).parameters
    own = list(inspect.signature(command, eval_str=True).parameters.values())[1:]

    def with_options(**given: Any) -> None:
        command(_selection(**{name: given.pop(name) for name in options}), **given)

    params = [*options.values(), *own]
    with_options.__name__, with_options.__doc__ = command.__name__, command.__doc__
    with_options.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    with_options.__annotations__ = {p.name: p.annotation for p in params}
    return with_options


@app.command("list")
@_selecting
def list_(selection: Selection) -> None:
    """Print one line per dead letter: source, reason and message."""
    _, letters, chosen = selection.read()
    for letter in chosen:
        typer.echo(f"{letter.source}\t{letter.error_type}\t{letter.message}")
    typer.echo(f"{len(chosen)} of {len(letters)} dead letters", err=True)


@app.command()
@_selecting
def replay(
    selection: Selection,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be replayed."),
) -> None:
    """Re-publish the selected dead letters, unchanged, to their source topic."""
    settings, letters, chosen = selection.read()
    stubs = [letter for letter in chosen if letter.is_stub]
    if stubs:
        typer.echo(f"skipping {len(stubs)} stubs (their value was too large to keep)", err=True)
        chosen = [letter for letter in chosen if not letter.is_stub]
    unknown = [letter for letter in chosen if not letter.source_topic]
    if unknown:
        typer.echo(f"error: {len(unknown)} dead letters have no source topic header", err=True)
        raise typer.Exit(1)
    if dry_run:
        for letter in chosen:
            typer.echo(f"would replay {letter.source}")
        typer.echo(f"dry run: {len(chosen)} of {len(letters)} dead letters would be replayed")
        return
    asyncio.run(_republish(settings, chosen))
    typer.echo(f"replayed {len(chosen)} of {len(letters)} dead letters")


async def _republish(settings: IngressSettings, letters: list[DeadLetter]) -> None:
    producer = make_producer(settings.kafka, name="dlq-replay")
    await producer.start()
    try:
        for letter in letters:
            await producer.send_and_wait(
                letter.source_topic,
                value=letter.original_value,
                key=letter.record.key,
                headers=letter.original_headers,
            )
    finally:
        await producer.stop()
