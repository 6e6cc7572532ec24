"""Rendering a run's record for a person (tables) or a program (JSON).

A person reads each step's result as words (step_words.py), whole, in the language
chosen; the identifiers typed next (run id, step ids, hosts) never cut; every time in
the inventory's zone with the zone said (orchestrator/shown_times.py)."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from rich.console import Console
from rich.markup import escape

from orchestrator.cli.step_words import kind_word, result_words, said, status_word
from orchestrator.cli.tables import folding_table, print_table
from orchestrator.shown_times import shown_time
from orchestrator.text import Lang, Text

_HEADINGS = {
    "step": Text("步骤", "step"),
    "kind": Text("类型", "kind"),
    "status": Text("状态", "status"),
    "result": Text("结果", "result"),
}


def print_run(console: Console, doc: dict[str, Any], lang: Lang, zone: tzinfo) -> None:
    zh = lang == "zh"
    mode = status_word(doc["mode"], lang)
    status = status_word(doc["status"], lang)
    words = ("运行", "模式", "状态") if zh else ("run", "mode", "status")
    console.print(
        f"{words[0]} [cyan]{doc['id']}[/]  {escape(doc['runbook'])}  {words[1]}={mode}  "
        f"{words[2]}=[bold]{status}[/]"
    )
    started = shown_time(doc["started_at"], zone)
    finished = shown_time(doc["finished_at"], zone) if doc["finished_at"] else None
    by = escape(doc["started_by"])
    if zh:
        ended = f"，结束于 {finished}" if finished else ""
        console.print(f"开始于 {started}，发起人 {by}{ended}")
    else:
        ended = f", finished {finished}" if finished else ""
        console.print(f"started {started} by {by}{ended}")
    if doc.get("detail"):
        console.print(escape(said(doc["detail"], lang)))
    # The step id is what `dr approve RUN STEP` takes: whole, never cut with an ellipsis.
    table = folding_table(
        *(_HEADINGS[h](lang) for h in ("step", "kind", "status", "result")),
        widest=[s["id"] for s in doc["steps"]],
    )
    for step in doc["steps"]:
        table.add_row(
            escape(step["id"]),
            kind_word(step["kind"], lang),
            status_word(step["status"], lang),
            escape(_step_result(step, lang, zone)),
        )
    print_table(console, table)
    print_measurements(console, doc["measurements"], lang)


def _step_result(step: dict[str, Any], lang: Lang, zone: tzinfo) -> str:
    """The step's error, else its result; a fan-out's per host, one line each."""
    if step["hosts"]:
        lines = []
        for host in step["hosts"]:
            said = _error(host, lang) or result_words(host["result"], lang, zone)
            status = status_word(host["status"], lang)
            lines.append(f"{host['host']}: {status}" + (f" — {said}" if said else ""))
        return "\n".join(lines)
    return str(_error(step, lang) or result_words(step["result"], lang, zone))


def _error(row: dict[str, Any], lang: Lang) -> str:
    """A failed step's error: the Chinese the engine kept beside it (`error_zh` in the
    result) when the operator reads Chinese, else the journal's English."""
    result = row.get("result")
    if lang == "zh" and row.get("error") and isinstance(result, dict):
        return str(result.get("error_zh") or row["error"])
    return str(row.get("error") or "")


def print_measurements(console: Console, measurements: dict[str, Any], lang: Lang) -> None:
    zh = lang == "zh"
    for name, label in (("rto_seconds", "RTO"), ("rpo_seconds", "RPO")):
        m = measurements.get(name)
        if m is None:
            continue
        if m["target"] is not None:
            target = f"目标 {_duration(m['target'])}" if zh else f"target {_duration(m['target'])}"
        else:
            target = "无目标" if zh else "no target"
        colour = {"met": "green", "not met": "red"}.get(m["verdict"], "yellow")
        verdict = status_word(m["verdict"], lang)
        console.print(
            f"{label}{' 实际' if zh else ' achieved'}: [bold]{_duration(m['value'])}[/] "
            f"({target}) [{colour}]{verdict}[/]"
        )
        detail = m.get("detail") or {}
        if name == "rto_seconds" and detail.get("lost_at_source"):
            # Which clock: an RTO from a marker and one from the first failed probe differ.
            # The journal keeps both languages since the sources were worded (measure.py).
            suffix = "_zh" if zh else ""
            source = escape(detail.get(f"lost_at_source{suffix}") or detail["lost_at_source"])
            until = escape(
                detail.get(f"restored_at_source{suffix}") or detail.get("restored_at_source", "?")
            )
            console.print(
                f"  [dim]{'计时从' if zh else 'clock from'} {source} "
                f"{'到' if zh else 'to'} {until}[/]"
            )
        if name == "rpo_seconds" and detail.get("data_point_source"):
            # Where the newest surviving data was read; Chinese beside it since measure.py
            # worded it (a run measured before then says the English).
            suffix = "_zh" if zh else ""
            point = detail.get(f"data_point_source{suffix}") or detail["data_point_source"]
            console.print(f"  [dim]{'数据点来自' if zh else 'data point from'} {escape(point)}[/]")


def _duration(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 120:
        return f"{value:.1f}s"
    minutes, secs = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
