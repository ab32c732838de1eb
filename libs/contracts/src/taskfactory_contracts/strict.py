"""The one configuration of the models that cross between services: immutable, closed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["STRICT", "StrictModel"]

#: Frozen (a model is a value) and no field beyond the declared ones (a typo is an error).
STRICT = ConfigDict(frozen=True, extra="forbid")


class StrictModel(BaseModel):
    """Base of a model configured :data:`STRICT`."""

    model_config = STRICT
