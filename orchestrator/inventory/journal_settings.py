"""The inventory's `journal:` section: the journal key, and where its head is anchored.

```yaml
journal:
  key: file:/etc/dr/journal.key        # the HMAC key (DR_JOURNAL_KEY overrides it)
  anchor_every: 1h                     # the scheduler's anchor job; 0 turns it off
  anchors:
    - s3:                              # a new object per anchor, under Object Lock
        endpoint: https://s3.offsite.example.cn
        bucket: dr-journal-anchors
        access_key_id: env:DR_ANCHOR_KEY_ID
        secret_access_key: env:DR_ANCHOR_SECRET
        retention: {days: 2555, mode: compliance}
    - ssh_file: {host: backup-1, path: /var/lib/dr-anchors/journal.jsonl}
    - notify: {roles: [duty, director]}
```
An anchor is the journal's id, newest seq and head hash, with a MAC under the key, written
where a person who can write the journal's database cannot rewrite it (see
orchestrator/anchors). Each entry names exactly one place.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from orchestrator.inventory.durations import Duration
from orchestrator.inventory.field_types import AbsolutePath
from orchestrator.inventory.names import Label, Name
from orchestrator.inventory.object_lock import ObjectLockPolicy
from orchestrator.inventory.paths import InventoryPath
from orchestrator.inventory.secrets import SecretRef
from orchestrator.inventory.strict import StrictModel


class S3AnchorPlace(StrictModel):
    endpoint: str = Field(pattern=r"^https?://[^/\s]+$")
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = "dr-journal-anchors/"
    region: str = "us-east-1"
    access_key_id: SecretRef
    secret_access_key: SecretRef
    # A CA file for a private S3 service; without it, the system's CAs (AWS_CA_BUNDLE).
    ca_file: InventoryPath | None = None
    path_style: bool = True
    # Retention of each anchor object; without it, the bucket's default retention.
    retention: ObjectLockPolicy | None = None


class SshFileAnchorPlace(StrictModel):
    host: Name  # an inventory host, reached as the runbooks reach it
    path: AbsolutePath


class NotifyAnchorPlace(StrictModel):
    roles: list[Label] = Field(min_length=1)


class AnchorPlace(StrictModel):
    s3: S3AnchorPlace | None = None
    ssh_file: SshFileAnchorPlace | None = None
    notify: NotifyAnchorPlace | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> AnchorPlace:
        named = [p for p in (self.s3, self.ssh_file, self.notify) if p is not None]
        if len(named) != 1:
            raise ValueError("an anchor names exactly one place: s3, ssh_file or notify")
        return self

    @property
    def kind(self) -> str:
        return "s3" if self.s3 else "ssh_file" if self.ssh_file else "notify"


class JournalSettings(StrictModel):
    key: SecretRef | None = None
    anchors: list[AnchorPlace] = []
    anchor_every: Duration = Field(default=3600, ge=0)
