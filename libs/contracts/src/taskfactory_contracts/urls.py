"""URL templates: every ``{{ … }}`` value is percent-encoded for its place in the URL.

A value from an event must never choose where a request goes. Rendered as plain text, a
tenant of ``169.254.169.254/latest/meta-data/#`` would pick the host and an id of
``../../admin/delete?all=true#`` the path. So in a URL template:

- a value in the path, query or fragment is percent-encoded with nothing left "safe"
  (``/ ? # & = %`` included), and a path value made only of dots is refused: it cannot add a
  segment, climb out of one, start a query or end the URL;
- the scheme and host (everything before the first ``/``, ``?`` or ``#`` after ``://``) may
  hold only trusted values, written ``{{ raw(expr) }}``, which are inserted as they are —
  checked when the definition loads (:func:`check_url_template`) and again when rendering.

``raw(x)`` is the identity everywhere else, so a template stays valid outside URLs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import lark

from taskfactory_contracts.celengine import RAW_FUNCTION, compile_expression
from taskfactory_contracts.errors import ExpressionError

__all__ = ["TEMPLATE", "UrlSlot", "check_url_template", "render_url_parts", "url_slots"]

#: One ``{{ expr }}`` part of a template.
TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
Position = Literal["origin", "path", "query", "fragment"]


@dataclass(frozen=True)
class UrlSlot:
    """One ``{{ … }}`` of a URL template: its expression, where it sits, and whether raw."""

    source: str
    position: Position
    raw: bool


def _advance(position: Position, text: str, at_start: bool) -> Position:
    """The position after the literal ``text``."""
    i = 0
    if at_start and text.startswith("//"):
        i = 2  # a scheme-relative URL: the authority follows
    while i < len(text):
        char = text[i]
        if position == "origin" and text.startswith("://", i):
            i += 3
            continue
        if char == "#":
            position = "fragment"
        elif char == "?" and position in ("origin", "path"):
            position = "query"
        elif char == "/" and position == "origin":
            position = "path"
        i += 1
    return position


def _is_raw(tree: lark.Tree[Any]) -> bool:
    node: lark.Tree[Any] = tree
    while node.data != "ident_arg":
        subtrees = [c for c in node.children if isinstance(c, lark.Tree)]
        if len(node.children) != 1 or len(subtrees) != 1:
            return False
        node = subtrees[0]
    name, *args = node.children
    return str(name) == RAW_FUNCTION and len(args) == 1 and len(args[0].children) == 1


@functools.lru_cache(maxsize=1024)
def url_slots(template: str) -> tuple[tuple[str, ...], tuple[UrlSlot, ...]]:
    """The literal texts (one more than the slots) and the slots of ``template``."""
    texts: list[str] = []
    slots: list[UrlSlot] = []
    position: Position = "origin"
    last = 0
    for match in TEMPLATE.finditer(template):
        text = template[last : match.start()]
        position = _advance(position, text, at_start=last == 0)
        source = match.group(1).strip()
        texts.append(text)
        slots.append(UrlSlot(source, position, _is_raw(compile_expression(source))))
        last = match.end()
    texts.append(template[last:])
    return tuple(texts), tuple(slots)


def check_url_template(template: str) -> None:
    """Refuse a URL template whose scheme or host comes from an untrusted value."""
    for slot in url_slots(template)[1]:
        if slot.position == "origin" and not slot.raw:
            raise ExpressionError(
                f"URL {template!r}: {{{{ {slot.source} }}}} sits in the scheme or host, which an "
                f"event value must never choose; use a literal host, or "
                f"{{{{ {RAW_FUNCTION}({slot.source}) }}}} if the value is trusted "
                "(deployment context, not event data)"
            )


def render_url_parts(template: str, text_of: Callable[[str], str]) -> str:
    """``template`` with each slot's text (``text_of(source)``) encoded for its position."""
    check_url_template(template)
    texts, slots = url_slots(template)
    out = [texts[0]]
    for slot, after in zip(slots, texts[1:], strict=True):
        out.append(_encode(slot, text_of(slot.source)))
        out.append(after)
    return "".join(out)


def _encode(slot: UrlSlot, text: str) -> str:
    if slot.raw:
        return text
    if slot.position == "path" and text and not text.strip("."):
        raise ExpressionError(
            f"{{{{ {slot.source} }}}} is {text!r}, which cannot be a URL path value"
        )
    try:
        return quote(text, safe="")
    except UnicodeEncodeError:
        raise ExpressionError(
            f"{{{{ {slot.source} }}}} is not valid Unicode text (a lone surrogate?)"
        ) from None
