"""What the dual-host cutover's checks tell the operator, in Chinese and English.

Kept apart from runbooks/dual_host_cutover.py so the runbook reads as its steps; the
English is what the journal keeps under `detail` (and what earlier runs said), the
Chinese what a `--lang zh` duty operator reads.
"""

from __future__ import annotations

from orchestrator.text import Text


def _names(names: list[str]) -> str:
    return ", ".join(names)


def primary_healthy(primary: str, serving: list[str]) -> Text:
    return Text(
        zh=f"主机 {primary} 运行正常（编排端与网点 {_names(serving)} 均可达）：无需故障切换；"
        "计划内切换请用 dual-host-switchover",
        en=f"{primary} is healthy (reached by the orchestrator and served to "
        f"{_names(serving)}): nothing failed; use dual-host-switchover for a planned move",
    )


def failure_seen(primary: str, reached: bool, answered: list[str], alive: list[str]) -> Text:
    """What the vantage points saw of a failed (or cut-off) primary."""
    where = "alive behind a cut management path" if alive else "down"
    where_zh = "管理链路中断，主机仍在运行" if alive else "已宕机"
    return Text(
        zh=f"{primary}：编排端{'可以连接' if reached else '无法连接'}；"
        f"有应答的网点：{_names(answered) or '无'}；"
        f"仍看到其运行的：{_names(alive) or '无'}；判断：{where_zh}",
        # The English as runs before this module said it (lists as Python shows them).
        en=f"{primary}: orchestrator {'reaches' if reached else 'cannot reach'} it; "
        f"branches answering {answered or 'none'}; seen alive by {alive or 'none'}: {where}",
    )


def standby_silent(standby: str) -> Text:
    return Text(
        zh=f"备机 {standby} 数据库无响应",
        en=f"the standby's database ({standby}) does not answer",
    )


def standby_already_primary(standby: str) -> Text:
    return Text(
        zh=f"{standby} 已是主库，但不是本次运行提升的：停止，先查明原因",
        en=f"{standby} is already a primary, not promoted by this run: stop and find out why",
    )


def standby_position(standby: str, replay_lsn: str | None, replayed: str | None) -> Text:
    return Text(
        zh=f"{standby} 为备库；已回放至 {replay_lsn}（最后提交时间 {replayed or '尚无'}）",
        en=f"{standby} is a standby; replayed up to {replay_lsn} "
        f"(last commit {replayed or 'none yet'})",
    )


def outlet_on_again(primary: str) -> Text:
    return Text(zh=f"{primary} 的 UPS 插座又被打开", en=f"the UPS outlet of {primary} is on again")


def database_runs_again(primary: str) -> Text:
    return Text(zh=f"{primary} 的数据库又在运行", en=f"the database on {primary} runs again")


def fenced_by(primary: str, method: str) -> Text:
    return Text(zh=f"{primary} 已隔离（方式：{method}）", en=f"{primary} fenced by {method}")


NO_FENCE = Text(zh="没有任何隔离记录", en="no fence is recorded")


def still_serving(serving: list[str], primary: str, run_id: str) -> Text:
    return Text(
        zh=f"{_names(serving)} 仍看到 {primary} 在运行：它没有断电，不会提升备机。"
        f"请断电或隔离后执行 dr resume {run_id}",
        en=f"{_names(serving)} still see {primary} running: it is not powered off, so the "
        f"standby will not be promoted. Power it off or isolate it, then `dr resume {run_id}`",
    )


def no_branch_evidence(primary: str) -> Text:
    return Text(
        zh=f"没有网点能核实 {primary} 已停止：请恢复一个网点的连通；如已到现场确认断电，"
        "可加 -p branch_evidence=optional 重新运行",
        en=f"no branch answered to confirm that {primary} has stopped; restore a branch's "
        "reachability, or rerun with -p branch_evidence=optional if the power-off was "
        "checked in person",
    )


def powered_off_by_hand(primary: str) -> Text:
    return Text(
        zh=f"{primary} 已人工断电；没有网点看到它仍在服务",
        en=f"{primary} powered off by hand; no branch sees it serve",
    )
