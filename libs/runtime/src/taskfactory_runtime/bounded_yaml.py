"""Reading outside YAML within bounds: no aliases, bounded nesting and node count, UTF-8 only.

PyYAML's ``SafeLoader`` refuses arbitrary Python objects but not a document that is cheap to
write and expensive to read: a 433-byte alias bomb expands to 9^9 strings, and a few
kilobytes of ``[`` exhaust the composer's recursion. :class:`BoundedLoader` refuses both while
composing, through PyYAML's own recursion point, and says where (line and field path).
"""

from __future__ import annotations

from typing import Any

import yaml

from taskfactory_runtime.errors import NotUtf8, YamlRefused

__all__ = [
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "BoundedLoader",
    "decode_utf8",
    "parse_yaml",
]

#: Deepest nesting of mappings and lists in a definition file (real ones use under 10).
MAX_YAML_DEPTH = 32
#: Most YAML nodes (scalars, mappings, lists) in one definition file.
MAX_YAML_NODES = 100_000


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, refusing aliases, deep nesting and too many nodes as it composes.

    ``Composer.compose_node(parent, index)`` is PyYAML's own recursion point; ``index`` is the
    key node of a mapping value or the position of a list item, which gives the field path.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path: list[str | int | None] = []
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        key = index.value if isinstance(index, yaml.ScalarNode) else index
        self._path.append(key if isinstance(key, str | int) else None)
        try:
            here = [p for p in self._path[1:] if p is not None]
            if isinstance(event, yaml.AliasEvent):
                raise YamlRefused(
                    event.start_mark,
                    here,
                    f"YAML aliases (*{event.anchor}) are not supported: write the value out",
                )
            self._nodes += 1
            if self._nodes > MAX_YAML_NODES:
                raise YamlRefused(event.start_mark, here, f"more than {MAX_YAML_NODES} YAML nodes")
            if len(self._path) > MAX_YAML_DEPTH:
                raise YamlRefused(
                    event.start_mark, here, f"nested deeper than {MAX_YAML_DEPTH} levels"
                )
            node: yaml.Node | None = super().compose_node(parent, index)
            return node
        finally:
            self._path.pop()


def parse_yaml(source: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for line numbers) and the value of one YAML document."""
    loader = BoundedLoader(source)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    finally:
        loader.dispose()


def decode_utf8(data: bytes) -> str:
    """``data`` as text; raises :class:`NotUtf8` naming the line and byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise NotUtf8(
            line,
            f"not UTF-8: byte 0x{data[exc.start]:02x} at column {column}; save the file as UTF-8",
        ) from None
