"""Workflow-id derivation: deterministic, bounded, injective on template fields."""

from __future__ import annotations

import hashlib
import string
import subprocess
import sys

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from taskfactory_contracts import (
    ActivityDefinition,
    derive_workflow_id,
    template_fields,
)
from taskfactory_contracts.ids import MAX_WORKFLOW_ID_LENGTH, TEMPLATE_FIELDS

FIELDS = sorted(TEMPLATE_FIELDS)
values = st.text(min_size=1, max_size=400)
templates = st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4, unique=True).map(
    lambda names: "tf/" + "/".join("{" + n + "}" for n in names)
)
lengths = st.integers(min_value=32, max_value=1000)
# Temporal accepts any UTF-8 id; ours stay within URL-safe ASCII plus the literal characters.
_ALLOWED = frozenset(string.ascii_letters + string.digits + "%_.-~/")


def _values(template: str, pick: st.DataObject) -> dict[str, str | None]:
    return {name: pick.draw(values, label=name) for name in template_fields(template)}


@settings(deadline=None)  # a loaded CI machine; hangs are caught by pytest-timeout
@given(templates, st.data(), lengths)
def test_deterministic_and_bounded(template: str, data: st.DataObject, max_length: int) -> None:
    vals = _values(template, data)
    first = derive_workflow_id(template, vals, max_length=max_length)
    assert first == derive_workflow_id(
        template, dict(reversed(vals.items())), max_length=max_length
    )
    assert 0 < len(first) <= max_length
    assert set(first) <= _ALLOWED
    assert ("~" in first) == (len(first) == max_length and first[-17] == "~")


@settings(deadline=None)  # a loaded CI machine; hangs are caught by pytest-timeout
@given(templates, st.data(), lengths)
def test_distinct_field_values_give_distinct_ids(
    template: str, data: st.DataObject, max_length: int
) -> None:
    a = _values(template, data)
    field = data.draw(st.sampled_from(template_fields(template)), label="changed field")
    other = data.draw(values, label="other value")
    assume(other != a[field])
    b = {**a, field: other}
    assert derive_workflow_id(template, a, max_length=max_length) != derive_workflow_id(
        template, b, max_length=max_length
    )


@settings(deadline=None)  # a loaded CI machine; hangs are caught by pytest-timeout
@given(st.text(min_size=1, max_size=50), st.text(min_size=1, max_size=50))
def test_values_cannot_forge_separators(x: str, y: str) -> None:
    # "a/b" + "c" must never collide with "a" + "b/c"
    template = "t/{subject}/{tenant}"
    assume(x + "/" + y != x)
    left = derive_workflow_id(template, {"subject": x + "/" + y, "tenant": "z"})
    right = derive_workflow_id(template, {"subject": x, "tenant": y + "/z"})
    assert left != right


@settings(deadline=None)  # a loaded CI machine; hangs are caught by pytest-timeout
@given(st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=20))
def test_unknown_template_field_is_rejected(name: str) -> None:
    assume(name not in TEMPLATE_FIELDS)
    with pytest.raises(ValueError, match="unknown field"):
        template_fields("x/{" + name + "}")


def test_unknown_field_rejected_when_the_definition_loads() -> None:
    with pytest.raises(ValueError, match="unknown field 'customer'"):
        ActivityDefinition.model_validate(
            {
                "id": "loan-approval",
                "version": 1,
                "trigger": {"event_types": ["loan.requested"]},
                "correlation": {"workflow_id": "loan-approval/{customer}"},
                "tasks": [{"id": "score", "type": "echo"}],
            }
        )


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("", "empty"),
        ("{subject}{id}", "separator"),
        ("{subject}abc{id}", "separated by"),
        ("x/{subject!r}", "conversions"),
        ("x/{subject:>10}", "format specs"),
        ("x~{subject}", "reserved"),
        ("x/{subject", "expected '}'"),
    ],
)
def test_bad_templates_are_rejected(template: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        template_fields(template)


def test_known_examples_are_stable_forever() -> None:
    # Changing these breaks dedupe across deploys: the id of a stored event must not move.
    assert derive_workflow_id("loan-approval/{subject}", {"subject": "loan 42/ü"}) == (
        "loan-approval/loan%2042%2F%C3%BC"
    )
    assert (
        derive_workflow_id(
            "monitor/{definition}/{scheduled_for}",
            {"definition": "nightly", "scheduled_for": "2026-03-01T00:00:00Z"},
        )
        == "monitor/nightly/2026-03-01T00%3A00%3A00Z"
    )
    long_id = derive_workflow_id("x/{subject}", {"subject": "a" * 300})
    full = "x/" + "a" * 300
    assert (
        long_id
        == full[: MAX_WORKFLOW_ID_LENGTH - 17]
        + "~"
        + hashlib.sha256(full.encode()).hexdigest()[:16]
    )


def test_same_id_in_another_process() -> None:
    code = (
        "from taskfactory_contracts import derive_workflow_id;"
        "print(derive_workflow_id('a/{subject}/{id}', {'subject': 'ü'*200, 'id': 'x'}))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    expected = derive_workflow_id("a/{subject}/{id}", {"subject": "ü" * 200, "id": "x"})
    assert other.stdout.strip() == expected


def test_missing_value_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="tenant is empty"):
        derive_workflow_id("x/{tenant}", {"tenant": None})


def test_too_small_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="max_length"):
        derive_workflow_id("x/{id}", {"id": "a"}, max_length=10)
