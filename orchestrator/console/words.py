"""The console's words in Chinese and English; pages pick one by the person's language."""

from __future__ import annotations

from typing import Literal

Lang = Literal["zh", "en"]

WORDS: dict[str, tuple[str, str]] = {
    "title": ("灾备值班控制台", "Duty-room console"),
    "signin": ("登录", "Sign in"),
    "signout": ("退出", "Sign out"),
    "your_name": ("您在清单中的联系人名称", "Your contact name in the inventory"),
    "send_code": ("发送登录码", "Send me a sign-in code"),
    "code_sent": (
        "如该名称是清单中的联系人且有本人专用渠道，登录码已发送（10 分钟内有效，仅一次）。",
        "If this name is a contact with a channel of their own, a sign-in code is on its way "
        "(valid 10 minutes, once).",
    ),
    "code": ("登录码", "Sign-in code"),
    "use_code": ("用登录码登录", "Sign in with the code"),
    "or_terminal": (
        "在编排机终端上也可运行 `dr serve link -i 清单` 获取本人的登录链接。",
        "At a terminal of the orchestrator, `dr serve link -i INVENTORY` prints a sign-in "
        "link for yourself.",
    ),
    "too_many": (
        "尝试次数过多，请稍后再试。",
        "Too many attempts: wait a few minutes and try again.",
    ),
    "continue": ("继续", "Continue"),
    "link_confirm": (
        "此一次性链接仅可使用一次。点击继续。",
        "This one-time link works once. Press Continue to use it.",
    ),
    "signed_in_as": ("当前登录", "Signed in as"),
    "incidents": ("未结事件", "Open incidents"),
    "no_incidents": ("无未结事件", "No open incident"),
    "level": ("预警级别", "Level"),
    "grade": ("事件等级", "Grade"),
    "deadline": ("时限", "Deadline"),
    "due_in": ("剩余", "Due in"),
    "overdue": ("已超时", "Overdue by"),
    "runs": ("执行中的预案", "Running runbooks"),
    "no_runs": ("无执行中的预案", "No runbook running"),
    "rto_clock": ("RTO 计时", "RTO clock"),
    "target": ("目标", "target"),
    "step": ("步骤", "Step"),
    "status": ("状态", "Status"),
    "backups": ("备份集", "Backup sets"),
    "no_backups": ("清单中无备份集", "No backup set in the inventory"),
    "newest_backup": ("最新有效备份距今（RPO）", "Newest good backup age (RPO)"),
    "restore_test": ("最近恢复测试", "Last restore test"),
    "never": ("从未", "never"),
    "passed": ("通过", "passed"),
    "failed": ("失败", "failed"),
    "unreadable": ("仓库不可读", "repository unreadable"),
    "approval": ("审批", "Approval"),
    "open_approval": ("前往审批", "Review and approve"),
    "plan": ("预案", "Plan"),
    "this_step": ("待审批步骤", "Step to approve"),
    "what_next": ("批准后将执行", "What it will do once approved"),
    "roster": ("审批名单（步骤开始时确定）", "Who may approve (fixed when the step started)"),
    "starter": ("发起人", "Started by"),
    "approve": ("批准", "Approve"),
    "refuse": ("不批准（终止运行）", "Refuse (stops the run)"),
    "note": ("备注", "Note"),
    "approved": ("已批准，运行将继续。", "Approved: the run goes on."),
    "refused": ("已拒绝，运行将终止。", "Refused: the run stops."),
    "not_waiting": ("该步骤当前不在等待审批。", "This step is not waiting for an approval."),
    "forbidden": ("无权访问此页面。", "You may not open this page."),
    "back": ("返回总览", "Back to the overview"),
    "live": ("实时", "live"),
    "disconnected": ("连接中断，正在重连…", "Disconnected, reconnecting…"),
    "lv_blue": ("蓝色", "blue"),
    "lv_yellow": ("黄色", "yellow"),
    "lv_orange": ("橙色", "orange"),
    "lv_red": ("红色", "red"),
    # Run and step statuses as the journal names them (orchestrator/journal/statuses.py).
    "st_pending": ("未开始", "pending"),
    "st_running": ("执行中", "running"),
    "st_waiting": ("等待中", "waiting"),
    "st_succeeded": ("成功", "succeeded"),
    "st_failed": ("失败", "failed"),
    "st_skipped": ("已跳过", "skipped"),
    "st_declined": ("已拒绝", "declined"),
    "st_aborted": ("已终止", "aborted"),
    "st_paused": ("已暂停", "paused"),
    "st_interrupted": ("已中断", "interrupted"),
    "st_rolled_back": ("已回滚", "rolled back"),
}


def word(lang: Lang, key: str) -> str:
    zh, en = WORDS[key]
    return zh if lang == "zh" else en


def pick_lang(value: str | None, default: Lang) -> Lang:
    return value if value in ("zh", "en") else default  # type: ignore[return-value]
