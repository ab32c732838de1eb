"""Render the configuration table of a settings class (kept in the README, checked by a test)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings

from taskfactory_runtime.settings import ENV_PREFIX

__all__ = ["settings_rows", "settings_table", "update_readme"]


def _default(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value) or "(empty)"
    return str(value)


def settings_rows(model: type[BaseModel], prefix: str = ENV_PREFIX) -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every leaf field of ``model``."""
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        env = f"{prefix}{name.upper()}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(settings_rows(annotation, f"{env}__"))
            continue
        # A description from an attribute docstring keeps its line breaks: one line here.
        rows.append((env, _default(field.default), " ".join((field.description or "").split())))
    return rows


def settings_table(*models: type[BaseSettings]) -> str:
    """A Markdown table of every setting of ``models`` (shared ones once)."""
    seen: dict[str, tuple[str, str]] = {}
    for model in models:
        for env, default, description in settings_rows(model):
            seen.setdefault(env, (default, description))
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{env}` | `{d}` | {desc} |" for env, (d, desc) in seen.items()]
    return "\n".join(lines)


def update_readme(readme: Path, table: str) -> bool:
    """Replace the table between the settings-table markers; True if the file changed."""
    text = readme.read_text(encoding="utf-8")
    start_marker, end_marker = "<!-- settings-table:start -->", "<!-- settings-table:end -->"
    start = text.index(start_marker) + len(start_marker)
    end = text.index(end_marker)
    new = f"{text[:start]}\n{table}\n{text[end:]}"
    if new == text:
        return False
    readme.write_text(new, encoding="utf-8")
    return True
