"""``envelope_from_json``: an event as people write it (``taskfactory explain``, the admin API's
explain, the examples' event files) becomes the envelope the ingress would decode."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from taskfactory_contracts import envelope_from_json

EVENT = {"id": "e1", "source": "/shop", "type": "order.placed", "subject": "o1"}


def test_data_is_any_json_value_and_time_defaults_to_the_epoch() -> None:
    envelope = envelope_from_json({**EVENT, "data": {"total": 12.5, "items": [1, 2]}})
    assert json.loads(envelope.data) == {"total": 12.5, "items": [1, 2]}
    assert envelope.time == datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("document", [EVENT, {**EVENT, "data": None}])
def test_absent_or_null_data_is_no_data(document: dict[str, object]) -> None:
    assert envelope_from_json(document).data == b""


def test_a_given_time_wins_over_the_default_and_the_document_is_not_changed() -> None:
    now = datetime.now(UTC)
    document = {**EVENT, "data": [1]}
    assert envelope_from_json(document, time=now).time == now
    assert document == {**EVENT, "data": [1]}


def test_a_missing_field_is_a_validation_error_naming_it() -> None:
    with pytest.raises(ValidationError, match="source"):
        envelope_from_json({k: v for k, v in EVENT.items() if k != "source"})
