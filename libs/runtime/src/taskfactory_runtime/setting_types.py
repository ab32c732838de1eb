"""Constrained types that settings of several services share."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

__all__ = ["CreateTopics", "ListenPort", "RequestBodyLimit", "TagRuns"]

#: The port a server of ours listens on; 0 picks a free one.
ListenPort = Annotated[int, Field(ge=0, le=65535, description="0 picks a free port.")]

#: The largest request body a server of ours reads; a larger one is answered 413.
RequestBodyLimit = Annotated[
    int, Field(gt=0, description="Larger request bodies are refused (413).")
]

#: Whether a service creates the topics it reads and writes, when they are missing, at start.
CreateTopics = Annotated[
    bool, Field(description="Create the topics the service uses, when missing, at start.")
]

#: Whether the runs a service starts carry the Taskfactory* search attributes.
TagRuns = Annotated[
    bool,
    Field(
        description="Tag the runs it starts with the Taskfactory* search attributes "
        "(they must be registered)."
    ),
]
