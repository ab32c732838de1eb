"""Deterministic workflow ids from a correlation template and the trigger's fields.

The same input gives the same id in any process on any day, so Temporal's workflow-id
uniqueness is the dedupe. Field values are percent-encoded, so a value can never forge a
separator and two inputs differing in a field never share an id. ``~`` appears only before
the hash suffix of a shortened id (values have it percent-encoded, literals may not use it),
so a short id can never equal a shortened one.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping
from urllib.parse import quote

__all__ = [
    "MAX_WORKFLOW_ID_LENGTH",
    "TEMPLATE_FIELDS",
    "derive_workflow_id",
    "template_fields",
]

MAX_WORKFLOW_ID_LENGTH = 255
# Fields a correlation template may name: envelope attributes and schedule firings.
TEMPLATE_FIELDS = frozenset(
    {
        "definition",
        "version",
        "id",
        "source",
        "type",
        "subject",
        "tenant",
        "correlation_id",
        "causation_id",
        "scheduled_for",
    }
)
_QUOTED_ALPHABET = frozenset(string.ascii_letters + string.digits + "_.-~%")
_HASH_LEN = 16
_MIN_LENGTH = 2 * _HASH_LEN


def template_fields(template: str) -> tuple[str, ...]:
    """The fields ``template`` refers to; raises ``ValueError`` for an unusable template."""
    if not template:
        raise ValueError("workflow id template is empty")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"workflow id template {template!r}: {exc}") from exc
    names: list[str] = []
    previous_was_field = False
    for literal, field, spec, conversion in parts:
        if "~" in literal:
            raise ValueError(
                f"workflow id template {template!r}: '~' is reserved for the hash suffix"
            )
        if previous_was_field and literal and not set(literal) - _QUOTED_ALPHABET:
            raise ValueError(
                f"workflow id template {template!r}: fields must be separated by a character "
                f"such as '/' or ':', not {literal!r}"
            )
        if field is None:
            previous_was_field = False
            continue
        if previous_was_field and not literal:
            raise ValueError(f"workflow id template {template!r}: two fields with no separator")
        if spec or conversion:
            raise ValueError(f"workflow id template {template!r}: no format specs or conversions")
        if field not in TEMPLATE_FIELDS:
            raise ValueError(
                f"workflow id template {template!r} names unknown field {field!r}; "
                f"known: {', '.join(sorted(TEMPLATE_FIELDS))}"
            )
        names.append(field)
        previous_was_field = True
    return tuple(names)


def _sanitise_literal(text: str) -> str:
    # Literals come from a validated definition; still drop characters Temporal's UI and
    # CLI handle badly (control characters and whitespace).
    return "".join(c if c.isprintable() and not c.isspace() and c != "~" else "_" for c in text)


def derive_workflow_id(
    template: str, values: Mapping[str, str | None], *, max_length: int = MAX_WORKFLOW_ID_LENGTH
) -> str:
    """The workflow id for ``values`` under ``template``; a missing value is a ``KeyError``.

    Ids longer than ``max_length`` keep their start, then ``~`` and 16 hex digits of the
    SHA-256 of the full id, so they stay unique, stable and within bounds.
    """
    if max_length < _MIN_LENGTH:
        raise ValueError(f"max_length must be at least {_MIN_LENGTH}, got {max_length}")
    out: list[str] = []
    for literal, field, _spec, _conv in string.Formatter().parse(template):
        out.append(_sanitise_literal(literal))
        if field is None:
            continue
        value = values[field]
        if value is None:
            raise KeyError(f"{field} is empty, required by workflow id template {template!r}")
        out.append(quote(value, safe="", errors="surrogatepass").replace("~", "%7E"))
    wid = "".join(out)
    if len(wid) <= max_length:
        return wid
    digest = hashlib.sha256(wid.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LEN]
    return f"{wid[: max_length - _HASH_LEN - 1]}~{digest}"
