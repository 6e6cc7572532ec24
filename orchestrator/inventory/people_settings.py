"""Where people reach dr besides a terminal, and who stands in for approvers in drills."""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field

from orchestrator.inventory.names import Label
from orchestrator.inventory.secrets import SecretRef
from orchestrator.inventory.strict import StrictModel


class ConsoleSettings(StrictModel):
    """The duty-room console (`dr serve`): approval links sent to people point here, and
    where and how it listens (orchestrator/console/). The certificate and its key are
    `file:` references: uvicorn reads them from disk, and the key never enters the YAML."""

    url: AnyHttpUrl | None = None
    listen: str = "127.0.0.1:8443"
    certificate: SecretRef | None = None
    key: SecretRef | None = None
    # How long a sign-in lasts before the person signs in again.
    session_minutes: int = Field(default=720, ge=5, le=7 * 24 * 60)


class DrillSettings(StrictModel):
    """In a drill with --auto-confirm, approval steps are given by these contacts (each
    on the step's fixed roster and not the starter). Empty: approvals wait for a person,
    even in an unattended drill."""

    auto_approve_by: list[Label] = []
