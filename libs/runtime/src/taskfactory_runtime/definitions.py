"""Load ActivityDefinition files (YAML, or Markdown with YAML front matter) from a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from taskfactory_contracts import ActivityDefinition, DefinitionError

__all__ = ["load_definition", "load_definitions"]

_SUFFIXES = (".yaml", ".yml", ".md")


def _document(path: Path) -> tuple[Any, str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".md":
        return yaml.safe_load(text), ""
    if not text.startswith("---"):
        raise DefinitionError("Markdown definitions start with '---' front matter", file=str(path))
    _, front, body = [*text.split("---", 2), "", ""][:3]
    return yaml.safe_load(front), body.strip()


def load_definition(path: Path) -> ActivityDefinition:
    """One definition file; raises ``DefinitionError`` naming the file, field and reason."""
    try:
        doc, body = _document(path)
    except yaml.YAMLError as exc:
        raise DefinitionError(f"not valid YAML: {exc}", file=str(path)) from exc
    except OSError as exc:
        raise DefinitionError(f"cannot read: {exc.strerror}", file=str(path)) from exc
    if not isinstance(doc, dict):
        raise DefinitionError("expected a mapping at the top level", file=str(path))
    if body and not doc.get("description"):
        doc["description"] = body
    try:
        return ActivityDefinition.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "<root>"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise DefinitionError(f"{first['msg']}{more}", file=str(path), field=field) from exc


def load_definitions(folder: Path) -> list[ActivityDefinition]:
    """Every definition in ``folder`` (sorted by file name); ids must be unique."""
    if not folder.is_dir():
        raise DefinitionError("definitions folder does not exist", file=str(folder))
    seen: dict[str, Path] = {}
    out: list[ActivityDefinition] = []
    for path in sorted(p for p in folder.iterdir() if p.suffix in _SUFFIXES and p.is_file()):
        definition = load_definition(path)
        if definition.id in seen:
            raise DefinitionError(
                f"id {definition.id!r} is already defined in {seen[definition.id]}",
                file=str(path),
                field="id",
            )
        seen[definition.id] = path
        out.append(definition)
    return out
