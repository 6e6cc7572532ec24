"""The base of every inventory model: unknown keys are errors.

A misspelt key (`prot: 2222`) silently ignored would leave a default in force during an
emergency, which is worse than refusing the file.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base of every inventory model: unknown keys are errors.

    A default with constraints is written `Field(default=10, gt=0)`, by keyword: the type
    checker reads a positional one as no default, and then the model as not buildable
    without arguments (`Field(default_factory=Model)` elsewhere fails to check).

    No number may be infinite or NaN (YAML's `.inf`, `.nan`): an infinite timeout never
    fires, and NaN compares false with every bound, so `gt=0` would let it through."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
