"""Constrained types that settings of several services share."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

__all__ = ["ListenPort"]

#: The port a server of ours listens on; 0 picks a free one.
ListenPort = Annotated[int, Field(ge=0, le=65535)]
