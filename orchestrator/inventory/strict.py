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
    without arguments (`Field(default_factory=Model)` elsewhere fails to check)."""

    model_config = ConfigDict(extra="forbid")
