"""``echo``: returns its params; the smallest task that proves the path end to end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["echo"]


async def echo(params: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``params`` unchanged, as a JSON object."""
    return dict(params)
