"""Alertmanager (webhook version 4) and Zabbix (media type "Webhook") payloads, read
into one shape. Everything a sender may get wrong is a BadPayload with a message that
says which field, so the sender's log shows what to fix (and we never show a traceback).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from orchestrator.errors import DrError

Status = Literal["firing", "resolved"]
# Alertmanager's endsAt for an alert still firing is Go's zero time.
_GO_ZERO_YEAR = 1
# Go writes nanoseconds; Python reads at most microseconds.
_FRACTION = re.compile(r"(\.\d{6})\d+")
# Zabbix's {EVENT.DATE} {EVENT.TIME} ("2026.12.04 12:00:00"), followed by a zone.
_ZABBIX_DATE = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2})[ T]")
# Zabbix {EVENT.STATUS} / {EVENT.VALUE}; a recovery event says RESOLVED or 0.
_ZABBIX_STATUS: dict[str, Status] = {
    "problem": "firing",
    "1": "firing",
    "resolved": "resolved",
    "ok": "resolved",
    "0": "resolved",
}


class BadPayload(DrError):
    """The request body is not what the sender's documented format says."""


@dataclass(frozen=True)
class Alert:
    source: Literal["alertmanager", "zabbix"]
    key: str  # Alertmanager's fingerprint, or "zabbix:" + the problem's event id
    status: Status
    labels: dict[str, str]
    summary: str
    started_at: datetime
    ended_at: datetime | None


def alertmanager_alerts(doc: Any) -> list[Alert]:
    if not isinstance(doc, dict):
        raise BadPayload("the body must be a JSON object (Alertmanager webhook, version 4)")
    if str(doc.get("version")) != "4":
        raise BadPayload(f'version must be "4" (Alertmanager webhook), not {doc.get("version")!r}')
    items = doc.get("alerts")
    if not isinstance(items, list) or not items:
        raise BadPayload("alerts must be a non-empty list")
    return [_alertmanager_alert(i, item) for i, item in enumerate(items)]


def _alertmanager_alert(index: int, item: Any) -> Alert:
    where = f"alerts[{index}]"
    if not isinstance(item, dict):
        raise BadPayload(f"{where} must be an object")
    status = item.get("status")
    if status not in ("firing", "resolved"):
        raise BadPayload(f'{where}.status must be "firing" or "resolved"')
    labels = _strings(item.get("labels"), f"{where}.labels")
    annotations = _strings(item.get("annotations", {}), f"{where}.annotations")
    fingerprint = item.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint.strip():
        raise BadPayload(f"{where}.fingerprint is missing (Alertmanager sends it since 0.19)")
    started = _instant(item.get("startsAt"), f"{where}.startsAt")
    ends = item.get("endsAt")
    ended = None if ends in (None, "") else _instant(ends, f"{where}.endsAt")
    if ended is not None and ended.year == _GO_ZERO_YEAR:
        ended = None
    name = labels.get("alertname", "alert")
    detail = annotations.get("summary") or annotations.get("description") or ""
    instance = labels.get("instance") or labels.get("host") or ""
    summary = " ".join(part for part in (name, instance and f"({instance})", detail) if part)
    return Alert(
        "alertmanager", f"am:{fingerprint.strip()}", status, labels, summary, started, ended
    )


def zabbix_alert(doc: Any) -> Alert:
    """The body the media type's script posts (README, "Alerts"): event_id, status, host,
    trigger, severity, time, and optionally recovery_time and tags."""
    if not isinstance(doc, dict):
        raise BadPayload("the body must be a JSON object (the dr media type's parameters)")
    event_id = _text(doc, "event_id")
    status = _ZABBIX_STATUS.get(_text(doc, "status").lower())
    if status is None:
        raise BadPayload("status must be PROBLEM or RESOLVED ({EVENT.STATUS}), or 1 or 0")
    host, trigger = _text(doc, "host"), _text(doc, "trigger")
    severity = str(doc.get("severity") or "")
    labels = {"alertname": trigger, "host": host, "severity": severity, "source": "zabbix"}
    labels.update(_tags(doc.get("tags")))
    started = _instant(doc.get("time"), "time")
    recovered = doc.get("recovery_time")
    # A problem's message leaves the recovery macros unexpanded: no recovery yet.
    unset = recovered in (None, "") or (isinstance(recovered, str) and "{" in recovered)
    ended = None if unset else _instant(recovered, "recovery_time")
    summary = f"{trigger} ({host})" + (f" [{severity}]" if severity else "")
    return Alert("zabbix", f"zabbix:{event_id}", status, labels, summary, started, ended)


def _text(doc: dict[str, Any], field: str) -> str:
    value = doc.get(field)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or value.startswith("{"):
        # "{EVENT.ID}" arriving literally means the macro was not expanded.
        raise BadPayload(f"{field} is missing or empty (or an unexpanded Zabbix macro)")
    return value.strip()


def _strings(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise BadPayload(f"{where} must be an object of strings")
    return dict(value)


def _tags(value: Any) -> dict[str, str]:
    """Zabbix {EVENT.TAGSJSON} ([{"tag": .., "value": ..}]) or a plain object."""
    if value in (None, "", [], {}):
        return {}
    if isinstance(value, dict):
        return _strings(value, "tags")
    if isinstance(value, list) and all(
        isinstance(t, dict) and isinstance(t.get("tag"), str) for t in value
    ):
        return {t["tag"]: str(t.get("value", "")) for t in value}
    raise BadPayload("tags must be {EVENT.TAGSJSON} (a list of {tag, value}) or an object")


def _instant(value: Any, where: str) -> datetime:
    """RFC 3339 with a zone (Alertmanager), Zabbix's "{EVENT.DATE} {EVENT.TIME}+08:00",
    or Unix seconds."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError) as err:
            raise BadPayload(f"{where} is not a usable Unix time") from err
    if not isinstance(value, str):
        raise BadPayload(f"{where} must be an RFC 3339 time with a zone, or Unix seconds")
    try:
        text = _ZABBIX_DATE.sub(r"\1-\2-\3T", value.strip().replace("Z", "+00:00"))
        text = _FRACTION.sub(r"\1", text).replace(" ", "")
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise BadPayload(f"{where} {value[:40]!r} is not an RFC 3339 time") from err
    if moment.tzinfo is None:
        raise BadPayload(f"{where} has no time zone; send it with Z or +08:00")
    return moment.astimezone(UTC)
