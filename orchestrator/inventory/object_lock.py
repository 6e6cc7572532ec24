"""S3 Object Lock for a repository's bucket: every object version written is kept, unchangeable
and undeletable, for `days` after it was written, whoever asks.

Versioning keeps what a delete or an overwrite replaced; Object Lock keeps those versions
from being deleted in turn. With a database host whose key may not delete versions (see
README, "Backups an attacker cannot delete"), a compromised host can hide objects behind
delete markers or write new versions, and nothing more; `dr backup rewind` brings the
repository back as it was before. `compliance`: nobody, the account's root included, can
shorten or remove the lock; `governance`: a key with s3:BypassGovernanceRetention can.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from orchestrator.inventory.strict import StrictModel


class ObjectLockPolicy(StrictModel):
    """The bucket's default retention (a repository's `object_lock:`)."""

    # At least the time an attack can go unnoticed plus the time to restore from before it.
    days: int = Field(ge=1, le=36500)
    mode: Literal["compliance", "governance"] = "compliance"
