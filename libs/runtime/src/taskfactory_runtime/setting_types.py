"""Constrained types that settings of several services share."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

__all__ = ["ListenPort", "RequestBodyLimit"]

#: The port a server of ours listens on; 0 picks a free one.
ListenPort = Annotated[int, Field(ge=0, le=65535, description="0 picks a free port.")]

#: The largest request body a server of ours reads; a larger one is answered 413.
RequestBodyLimit = Annotated[
    int, Field(gt=0, description="Larger request bodies are refused (413).")
]
