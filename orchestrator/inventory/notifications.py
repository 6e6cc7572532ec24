"""The inventory's `notifications:` section: how incident notices leave the machine.

```yaml
notifications:
  smtp:
    host: smtp.qsrcc.example.cn
    port: 587
    from: dr-alerts@qsrcc.example.cn
    starttls: true
    username: dr-alerts
    password: env:DR_SMTP_PASSWORD
  webhooks:
    - name: duty-group
      kind: wecom                 # generic | wecom | dingtalk | feishu
      url: env:DR_WECOM_BOT_URL   # bot URLs carry their token: a secret reference
      levels: [yellow, orange, red]
    - name: leaders
      kind: dingtalk
      url: file:secrets/dingtalk.url
      secret: env:DR_DINGTALK_SIGN  # the bot's signing secret (DingTalk, Feishu)
  retries: 3
  backoff: 2s
```
Email goes to each contact of the level's roster (escalation) that has an `email`, in
the contact's language; a webhook posts one message per notice to its group, mentioning
the roster's wecom / dingtalk / feishu ids.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from orchestrator.inventory.durations import Duration
from orchestrator.inventory.field_types import AlertLevel, Email, Port
from orchestrator.inventory.names import Name
from orchestrator.inventory.secrets import SecretRef
from orchestrator.inventory.strict import StrictModel

WebhookKind = Literal["generic", "wecom", "dingtalk", "feishu"]


class SmtpSettings(StrictModel):
    # `from` is a Python keyword: the field is `sender`, written `from:` in the file.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    host: str
    port: Port = 25
    sender: Email = Field(alias="from")
    starttls: bool = False
    # Implicit TLS from the first byte (SMTPS, usually port 465), instead of STARTTLS.
    tls: bool = False
    # A login (its password) is sent only over TLS; a drill's test server may lack it,
    # and only a drill inventory may say so (`dr inventory check` refuses it elsewhere).
    allow_cleartext_login: bool = False
    username: str | None = None
    password: SecretRef | None = None
    timeout: float = Field(default=10, gt=0)

    @model_validator(mode="after")
    def _login_needs_both(self) -> SmtpSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("smtp: give both username and password (a reference), or neither")
        if self.starttls and self.tls:
            raise ValueError("smtp: choose starttls or tls (implicit TLS), not both")
        return self


class Webhook(StrictModel):
    name: Name
    kind: WebhookKind = "generic"
    url: SecretRef
    secret: SecretRef | None = None
    levels: list[AlertLevel] = ["blue", "yellow", "orange", "red"]
    language: Literal["zh", "en", "both"] = "both"
    timeout: float = Field(default=10, gt=0)
    # A bot whose chat is this contact's alone: one-time approval codes for that contact
    # go here (never to a group bot, where everyone in the group would read them).
    owner: Name | None = None

    @model_validator(mode="after")
    def _secret_only_where_signed(self) -> Webhook:
        if self.secret is not None and self.kind not in ("dingtalk", "feishu"):
            raise ValueError(
                f"webhook {self.name}: 'secret' signs DingTalk and Feishu bot messages only; "
                f"a {self.kind} webhook has no signing secret"
            )
        return self


class Notifications(StrictModel):
    smtp: SmtpSettings | None = None
    webhooks: list[Webhook] = []
    # Each delivery is tried 1 + retries times, waiting backoff, 2x backoff, 4x ...
    retries: int = Field(default=3, ge=0, le=10)
    backoff: Duration = 2
