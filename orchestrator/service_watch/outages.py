"""What the service watch's journal says about one service's outage, for the RTO clock.

- `outage_start`: the first failed probe of the outage in progress at a moment (the
  earliest among the vantages in scope that were down then), or None.
- `restored_at`: when every vantage in scope that was down at (or went down after) the
  outage's start had the service back, by a moment; None if one of them still had not,
  or the watch stopped watching in between.

Only the watch's own `at` times are compared (the probe's moment); a `service_watch.
stopped` ends what was known, so an outage nobody watched to its end is not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator.journal import Journal
from orchestrator.journal.records import EventRecord
from orchestrator.service_watch.events import DOWN, STOPPED, UP


@dataclass(frozen=True)
class Observed:
    at: datetime
    vantage: str
    detail: str

    def describe(self, what: str) -> str:
        return f"service watch: {what} from {self.vantage} ({self.detail})"

    def describe_zh(self, what: str) -> str:
        return f"服务监测：{self.vantage} {what}（{self.detail}）"


@dataclass(frozen=True)
class Scope:
    service: str
    vantage: str | None = None  # None: any vantage

    def covers(self, event: EventRecord) -> bool:
        data = event.data
        return data.get("service") == self.service and (
            self.vantage is None or data.get("vantage") == self.vantage
        )


def outage_start(journal: Journal, scope: Scope, moment: datetime) -> Observed | None:
    open_downs: dict[str, Observed] = {}
    for event in _events(journal, moment):
        if event.kind == STOPPED:
            open_downs.clear()
        elif scope.covers(event):
            vantage = str(event.data["vantage"])
            if event.kind == DOWN:
                open_downs.setdefault(vantage, _observed(event, str(event.data.get("error"))))
            else:
                open_downs.pop(vantage, None)
    return min(open_downs.values(), key=lambda o: o.at, default=None)


def restored_at(
    journal: Journal, scope: Scope, lost: datetime, moment: datetime
) -> Observed | None:
    down: set[str] = set()  # vantages down now
    lost_service: set[str] = set()  # vantages down at `lost` or since
    back: dict[str, Observed] = {}
    for event in _events(journal, moment):
        at = _at(event)
        if event.kind == STOPPED:
            if at > lost:
                break  # what was still down then, nobody saw come back
            down.clear()
            lost_service.clear()
            continue
        if not scope.covers(event):
            continue
        vantage = str(event.data["vantage"])
        if event.kind == DOWN:
            down.add(vantage)
            back.pop(vantage, None)
        else:
            down.discard(vantage)
            if at > lost:
                back[vantage] = _observed(event, f"outage {event.data.get('outage_s')}s")
        if at <= lost:
            lost_service = set(down)
        elif event.kind == DOWN:
            lost_service.add(vantage)
    if not lost_service or down & lost_service or not lost_service <= back.keys():
        return None
    return max((back[v] for v in lost_service), key=lambda o: o.at)


def _events(journal: Journal, moment: datetime) -> list[EventRecord]:
    events = journal.events(kinds=(DOWN, UP, STOPPED))
    return [e for e in events if _at(e) <= moment]


def _at(event: EventRecord) -> datetime:
    return datetime.fromisoformat(str(event.data.get("at") or event.at))


def _observed(event: EventRecord, detail: str) -> Observed:
    return Observed(_at(event), str(event.data["vantage"]), detail)
