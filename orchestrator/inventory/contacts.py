"""The people dr notifies and asks for approvals: name, role, language and channels."""

from __future__ import annotations

from typing import Literal

from orchestrator.inventory.field_types import Email
from orchestrator.inventory.names import Label, Name
from orchestrator.inventory.strict import StrictModel


class Contact(StrictModel):
    name: Label
    role: Label
    phone: str | None = None
    email: Email | None = None
    wecom: str | None = None
    dingtalk: str | None = None
    feishu: str | None = None
    language: Literal["zh", "en"] = "zh"
    # The OS account this person logs in with on the orchestrator host: `dr` knows who
    # is acting from the process's real uid, never from a name typed on the command line.
    login: Label | None = None
    # The branch site this person works at: the manual-fallback and re-entry notices of
    # an outage go to the people at the affected branches.
    site: Name | None = None
