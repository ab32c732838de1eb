"""Availability: each dependency up or down with its reason; subscribers hear all-up changes."""

from __future__ import annotations

import asyncio

import pytest

from taskfactory_ingress.availability import SCHEMA_REGISTRY, TEMPORAL, Availability


def test_each_dependency_is_reported_under_its_own_name_with_its_reason() -> None:
    availability = Availability()
    assert availability.all_up
    assert availability.reason(TEMPORAL) is None

    availability.down(SCHEMA_REGISTRY, "connection refused")

    assert not availability.all_up
    assert availability.reason(TEMPORAL) is None
    assert availability.reason(SCHEMA_REGISTRY) == "schema registry unavailable: connection refused"
    availability.down(SCHEMA_REGISTRY, "timed out")
    assert availability.reason(SCHEMA_REGISTRY) == "schema registry unavailable: timed out"
    availability.up(SCHEMA_REGISTRY)
    assert availability.all_up
    assert availability.reason(SCHEMA_REGISTRY) is None


def test_subscribers_hear_only_changes_of_all_up() -> None:
    availability = Availability()
    heard: list[bool] = []
    availability.subscribe(heard.append)

    availability.up(TEMPORAL)  # already up: nothing changes
    availability.down(TEMPORAL, "UNAVAILABLE")
    availability.down(TEMPORAL, "UNAVAILABLE again")
    availability.down(SCHEMA_REGISTRY, "refused")
    availability.up(TEMPORAL)  # the registry is still down
    assert heard == [False]
    availability.up(SCHEMA_REGISTRY)
    assert heard == [False, True]


async def test_wait_up_returns_once_every_dependency_is_back() -> None:
    availability = Availability()
    await asyncio.wait_for(availability.wait_up(), timeout=5)  # up: returns at once

    availability.down(TEMPORAL, "UNAVAILABLE")
    availability.down(SCHEMA_REGISTRY, "refused")
    waiting = asyncio.create_task(availability.wait_up())
    availability.up(TEMPORAL)
    await asyncio.sleep(0)  # let the waiter run: it must still be waiting
    assert not waiting.done()
    availability.up(SCHEMA_REGISTRY)
    await asyncio.wait_for(waiting, timeout=5)


def test_an_unknown_dependency_is_a_programming_error_named_as_such() -> None:
    with pytest.raises(ValueError, match="unknown dependency 'kafka'"):
        Availability().down("kafka", "no broker")
