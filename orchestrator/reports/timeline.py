"""The key moments of a run, from its journal events (commands and polls left out)."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from orchestrator.cli.step_words import status_word
from orchestrator.engine.messages import in_language
from orchestrator.journal.records import EventRecord
from orchestrator.reports.blocks import Table
from orchestrator.reports.i18n import ReportLang, pick
from orchestrator.shown_times import shown_column

_KEY_KINDS = (
    "run.",
    "step.succeeded",
    "step.failed",
    "step.skipped",
    "step.rolled_back",
    "marker",
    "measurement",
    "alert_level",
    "approval",
    "incident.",
    "notification.",
)

# How a run's own events read in Chinese where a status word would not say it.
_RUN_ZH = {"started": "运行开始", "resumed": "运行续跑"}

_MARKERS = {
    "service_lost": ("服务中断", "service lost"),
    "service_restored": ("服务恢复（已验证）", "service restored (verified)"),
    "last_data_point": ("最后保留的数据点", "last surviving data point"),
}


def key_events(events: list[EventRecord]) -> list[dict[str, Any]]:
    return [
        {
            "seq": e.seq,
            "at": e.at,
            "kind": e.kind,
            "step_id": e.step_id,
            "host": e.host,
            "actor": e.actor,
            "data": _public(e),
        }
        for e in events
        if e.kind.startswith(_KEY_KINDS)
    ]


def _public(event: EventRecord) -> dict[str, Any]:
    """What a reader needs from an event; results and commands stay in the journal."""
    data = event.data
    keep = (
        "status",
        "detail",
        "error",
        "marker",
        "at",
        "source",
        "name",
        "value_seconds",
        "target_seconds",
        "met",
        "level",
        "category",
        "reason",
        "role",
        "to",
        "from",
    )
    public = {k: data[k] for k in keep if k in data and data[k] is not None}
    # A failed step's Chinese, which the engine keeps in its result beside the English
    # error; a marker's source in Chinese, kept beside it since sources were worded.
    result = data.get("result")
    if isinstance(result, dict) and result.get("error_zh"):
        public["error_zh"] = result["error_zh"]
    if data.get("source_zh"):
        public["source_zh"] = data["source_zh"]
    return public


def timeline_table(events: list[dict[str, Any]], zone: tzinfo, lang: ReportLang) -> Table:
    """Time (to the millisecond, in `zone`, the zone said in the heading), event, by."""
    label, times = shown_column([_when(e) for e in events], zone, millis=True)
    return Table(
        [
            pick(lang, f"时间（{label}）", f"time ({label})"),
            pick(lang, "事件", "event"),
            pick(lang, "人员", "by"),
        ],
        [
            [when, _describe(event, lang), event["actor"] or ""]
            for when, event in zip(times, events, strict=True)
        ],
    )


def _when(event: dict[str, Any]) -> str:
    """A marker's own moment (when the service was lost), else when it was journaled."""
    data, kind = event["data"], event["kind"]
    return str((data.get("at") if kind == "marker" else event["at"]) or event["at"])


def _describe(event: dict[str, Any], lang: ReportLang) -> str:
    data, kind, step = event["data"], event["kind"], event["step_id"]
    where = f" @ {event['host']}" if event["host"] else ""
    if kind == "marker":
        zh, en = _MARKERS.get(data.get("marker", ""), (data.get("marker", ""),) * 2)
        if not data.get("source"):
            return pick(lang, zh, en)
        source_zh = data.get("source_zh") or data["source"]
        return pick(lang, f"{zh}（{source_zh}）", f"{en} ({data['source']})")
    if kind == "measurement":
        name = str(data.get("name", "")).removesuffix("_seconds").upper()
        return pick(
            lang,
            f"测得 {name} = {data.get('value_seconds')}s",
            f"measured {name} = {data.get('value_seconds')}s",
        )
    if kind.startswith("step."):
        status = kind.removeprefix("step.")
        error = f": {data['error']}" if data.get("error") else ""
        error_zh = data.get("error_zh") or data.get("error")
        return pick(
            lang,
            f"步骤 {step}{where} {status_word(status, 'zh')}"
            + (f"：{error_zh}" if error_zh else ""),
            f"{step}{where} {status}{error}",
        )
    if kind.startswith("run."):
        status = kind.removeprefix("run.")
        detail = str(data.get("detail") or "")
        zh = _RUN_ZH.get(status) or f"运行{status_word(status, 'zh')}"
        return pick(
            lang,
            zh + (f"：{in_language(detail, 'zh')}" if detail else ""),
            f"{kind}{where}" + (f": {detail}" if detail else ""),
        )
    if kind == "alert_level":
        return pick(
            lang,
            f"预警级别 {data.get('level')}（{data.get('category')}）",
            f"alert level {data.get('level')} ({data.get('category')})",
        )
    detail = f": {data['detail']}" if data.get("detail") else ""
    return f"{kind}{where}{detail}"
