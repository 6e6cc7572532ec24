"""What the institution has committed to: RTO/RPO targets per system, and the annual
drill plan that exercises them."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from orchestrator.inventory.durations import Duration
from orchestrator.inventory.names import Label, Name
from orchestrator.inventory.strict import StrictModel


class Target(StrictModel):
    """A recovery objective (RTO/RPO) set for one system, per GB/T 20988 category."""

    system: Label
    category: Literal["infrastructure", "network", "information-system"]
    rto: Duration
    rpo: Duration
    procedure: str | None = None


class PlannedDrill(StrictModel):
    """One entry of the annual drill plan (002 ch. 5): when, what, why, who."""

    when: date
    runbook: Name
    purpose: str = Field(min_length=1)
    basis: str = Field(min_length=1)  # the plan or rule that requires it
    owner: Label
    participants: list[Label] = []  # departments and cooperating parties (vendors, carriers)
    inventory: str | None = None  # the drill inventory it runs on, when not this one
    full_scope: bool = False  # a full-system drill: at least one a year
