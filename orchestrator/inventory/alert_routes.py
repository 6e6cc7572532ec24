"""The `alerts:` section: how monitoring alerts (Prometheus Alertmanager, Zabbix) become
incidents (`dr alerts serve`, orchestrator/alerts/).

Each route matches an alert's labels (a Zabbix event is given the labels `alertname`
(the trigger name), `host`, `severity` and its tags) and says the incident's category and
level and the runbook a person should run. A route never runs a runbook in production:
`auto_drill` only acts when the inventory's environment is `drill`.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from orchestrator.inventory.field_types import AlertCategory, AlertLevel
from orchestrator.inventory.secrets import SecretRef
from orchestrator.inventory.strict import StrictModel


class AlertAuth(StrictModel):
    """What a sender must present: a bearer token, or basic auth (Alertmanager's
    `http_config` supports both; a Zabbix webhook script sends either header)."""

    bearer_token: SecretRef | None = None
    username: str | None = None
    password: SecretRef | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> AlertAuth:
        basic = self.username is not None or self.password is not None
        if basic and (self.username is None or self.password is None):
            raise ValueError("basic auth needs both username and password (a secret reference)")
        if basic == (self.bearer_token is not None):
            raise ValueError(
                "give either bearer_token (env:/file: reference) or username and password"
            )
        return self


class AlertRoute(StrictModel):
    """Alerts whose labels carry every `match` pair open an incident of this kind."""

    match: dict[str, str] = Field(min_length=1)
    category: AlertCategory
    level: AlertLevel
    runbook: str | None = None
    params: dict[str, str | int | float | bool] = {}
    # Drill inventories only: start `dr drill RUNBOOK --incident ID` on its own.
    auto_drill: bool = False

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(key) == value for key, value in self.match.items())


class AlertSettings(StrictModel):
    listen: str = "127.0.0.1:9095"
    auth: AlertAuth | None = None  # `dr alerts serve` refuses to start without it
    routes: list[AlertRoute] = []
    # An alert no route matches still opens an incident, at this level, saying so.
    unmatched_category: AlertCategory = "system"
    unmatched_level: AlertLevel = "blue"

    def route_for(self, labels: dict[str, str]) -> AlertRoute | None:
        """The first route that matches (routes are tried in the file's order)."""
        return next((route for route in self.routes if route.matches(labels)), None)
