"""Rendering a run's record for a person (tables) or a program (JSON)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def print_json(console: Console, document: Any) -> None:
    # Plain print: rich would wrap long lines and break the JSON for a program reading it.
    console.file.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    console.file.flush()


def print_run(console: Console, doc: dict[str, Any]) -> None:
    console.print(
        f"run [cyan]{doc['id']}[/]  {escape(doc['runbook'])}  mode={doc['mode']}  "
        f"status=[bold]{doc['status']}[/]"
    )
    console.print(
        f"started {doc['started_at']} by {escape(doc['started_by'])}"
        + (f", finished {doc['finished_at']}" if doc["finished_at"] else "")
    )
    if doc.get("detail"):
        console.print(escape(doc["detail"]))
    table = Table("step", "kind", "status", "hosts / detail")
    for step in doc["steps"]:
        if step["hosts"]:
            detail = ", ".join(f"{h['host']}:{h['status']}" for h in step["hosts"])
        else:
            detail = step["error"] or _short(step["result"])
        table.add_row(escape(step["id"]), step["kind"], step["status"], escape(detail or ""))
    console.print(table)
    print_measurements(console, doc["measurements"])


def print_measurements(console: Console, measurements: dict[str, Any]) -> None:
    for name, label in (("rto_seconds", "RTO"), ("rpo_seconds", "RPO")):
        m = measurements.get(name)
        if m is None:
            continue
        target = f"target {_duration(m['target'])}" if m["target"] is not None else "no target"
        colour = {"met": "green", "not met": "red"}.get(m["verdict"], "yellow")
        console.print(
            f"{label} achieved: [bold]{_duration(m['value'])}[/] ({target}) "
            f"[{colour}]{m['verdict']}[/]"
        )
        detail = m.get("detail") or {}
        if name == "rto_seconds" and detail.get("lost_at_source"):
            # Which clock: an RTO from a marker and one from the first failed probe differ.
            console.print(
                f"  [dim]clock from {escape(detail['lost_at_source'])} to "
                f"{escape(detail.get('restored_at_source', '?'))}[/]"
            )


def _duration(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 120:
        return f"{value:.1f}s"
    minutes, secs = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _short(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
