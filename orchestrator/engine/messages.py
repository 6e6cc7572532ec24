"""What the engine itself says to the operator, in Chinese and English.

The journal keeps the English (every reader of the journal has read it so far); the
operator reads the run's language. A sentence kept in English in the journal is said
again in Chinese by matching it against the template it was made from (`in_language`),
so `dr runs show --lang zh` reads a run that ended before this module existed the same
way as one that ends now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from orchestrator.text import Lang, Text


@dataclass(frozen=True)
class Template:
    """One sentence of the engine's, with {named} places for step ids, run ids, figures."""

    zh: str
    en: str
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # "step {step} failed" -> r"step (?P<step>.+?) failed", the whole sentence.
        # A name said twice matches the same text twice.
        regex, seen = "", set()
        for index, piece in enumerate(re.split(r"\{(\w+)\}", self.en)):
            if index % 2 == 0:
                regex += re.escape(piece)
            else:
                regex += f"(?P={piece})" if piece in seen else f"(?P<{piece}>.+?)"
                seen.add(piece)
        object.__setattr__(self, "_pattern", re.compile(regex, re.DOTALL))

    def __call__(self, **values: Any) -> Text:
        return Text(zh=self.zh.format(**values), en=self.en.format(**values))

    def said_in_zh(self, english: str) -> str | None:
        """`english`, if this template made it, in Chinese; else None."""
        found = self._pattern.fullmatch(english)
        return self.zh.format(**found.groupdict()) if found else None


# ---- how a run ends ------------------------------------------------------------------
ALL_SUCCEEDED = Template("全部步骤成功", "all steps succeeded")
STEP_FAILED = Template(
    "步骤 {step} 失败；排除故障原因后执行 `dr resume {run}`，从该步骤重新执行",
    "step {step} failed; fix the cause, then `dr resume {run}` retries it",
)
ROLLED_BACK = Template(
    "步骤 {step} 失败；已完成的步骤已回滚",
    "step {step} failed; completed steps were rolled back",
)
PAUSED = Template(
    "操作员在步骤 {step} 暂停了运行；执行 `dr resume {run}` 继续",
    "paused by the operator at step {step}; continue with `dr resume {run}`",
)
STOPPED_AT_ONCE = Template(
    "在步骤 {step} 立即停止（第二次 Ctrl-C）；执行 `dr resume {run}` 继续",
    "stopped at once (second Ctrl-C) at step {step}; continue with `dr resume {run}`",
)
DECLINED = Template("操作员拒绝执行步骤 {step}", "the operator declined step {step}")
WAITS_FOR_APPROVAL = Template(
    "步骤 {step} 等待角色 {role} 审批：审批人用本人账号执行 `dr approve {run} {step}`"
    "（或用收到的一次性验证码加 `--code CODE`），然后执行 `dr resume {run}`",
    "step {step} waits for approval by role '{role}': the approver runs "
    "`dr approve {run} {step}` from their own account (or with `--code CODE` from the code "
    "sent to them), then `dr resume {run}`",
)
WAITS_FOR_PERSON = Template(
    "步骤 {step} 等待人工确认；请在终端执行 `dr resume {run}`，查看操作说明并确认",
    "step {step} waits for a person; run `dr resume {run}` in a terminal to see the "
    "instructions and confirm",
)

# ---- how a step ends -----------------------------------------------------------------
HOSTS_DONE = Template("{done}/{total} 台主机", "{done}/{total} hosts")
NO_HOST = Template("没有需要执行的主机", "no host to do")
CONDITION_NOT_MET = Template("条件不满足", "condition not met")
CONDITION_FAILED = Template("执行条件判断出错：{error}", "its condition failed: {error}")
DONE_BEFORE_RESUME = Template("续跑前已完成", "done before the resume")
AUTO_CONFIRMED = Template("已自动确认（演练）", "auto-confirmed (drill)")
CONFIRMED_BY = Template("{who} 已确认", "confirmed by {who}")
APPROVED_BY = Template("{who} 已批准", "approved by {who}")
REFUSED_BY = Template("{who} 已拒绝", "refused by {who}")
ALREADY_IN_EFFECT = Template("此前已生效", "already in effect")
TOOK_EFFECT_BEFORE = Template(
    "上次执行被中断；核验显示已经生效", "interrupted earlier; verify shows it took effect"
)
PAUSED_WHILE_WAITING = Template("等待期间被暂停", "paused while waiting")

# ---- why a step failed ---------------------------------------------------------------
CHECK_FAILED = Template("检查未通过", "check failed")
NOT_IN_EFFECT = Template(
    "操作已执行，但核验显示尚未生效",
    "the action ran but its verify says it has not taken effect",
)
TIMED_OUT = Template("{seconds} 秒后超时", "timed out after {seconds}s")
WAIT_NOT_MET = Template(
    "{timeout} 秒内检查 {polls} 次，条件仍未满足",
    "condition not met within {timeout}s after {polls} checks",
)
HELD_FOR = Template("（已保持 {held} 秒，需 {hold} 秒）", " (held {held}s of {hold}s)")

_RUN_ENDINGS = (
    ALL_SUCCEEDED,
    STEP_FAILED,
    ROLLED_BACK,
    PAUSED,
    STOPPED_AT_ONCE,
    DECLINED,
    WAITS_FOR_APPROVAL,
    WAITS_FOR_PERSON,
    CONDITION_NOT_MET,
    AUTO_CONFIRMED,
    DONE_BEFORE_RESUME,
    ALREADY_IN_EFFECT,
    TOOK_EFFECT_BEFORE,
)


def in_language(english: str, lang: Lang) -> str:
    """One of the engine's sentences as the journal keeps it (English), in `lang`; any
    other text as it is."""
    if lang != "zh":
        return english
    for template in _RUN_ENDINGS:
        said = template.said_in_zh(english)
        if said is not None:
            return said
    return english


def approval_notice(
    *, role: str, run: str, step: str, members: tuple[str, ...], sent: list[str]
) -> Text:
    """What the terminal says while a step waits for approval: who may approve, where
    the one-time codes went, and the command an approver runs."""
    who = Text(
        zh="、".join(members) or "无人：资产清单中没有联系人担任该角色",
        en=", ".join(members) or "nobody: no contact holds the role (see the inventory)",
    )
    codes = Text(
        zh=f"；一次性验证码已发送给 {'、'.join(sent)}" if sent else "",
        en=f"; one-time codes sent to {', '.join(sent)}" if sent else "",
    )
    return Text(
        zh=f"等待 {role} 审批（{who.zh}）{codes.zh}：审批人用本人账号执行 "
        f"`dr approve {run} {step}`，或在任一终端加 `--code CODE` 使用收到的验证码",
        en=f"waiting for approval by role '{role}' ({who.en}){codes.en}: an approver runs "
        f"`dr approve {run} {step}` from their own account, or with `--code CODE` from any "
        "terminal",
    )


def rollback_said(status: str) -> Text:
    """How a completed step's rollback ended ("rolled_back" or "failed")."""
    zh = {"rolled_back": "已回滚", "failed": "回滚失败"}.get(status, f"回滚：{status}")
    return Text(zh=zh, en=f"rollback {status}")


def joined(first: Text, second: Text | None) -> Text:
    """`first: second` (a failure and what the check or verify said), in each language."""
    if second is None or not second.en:
        return first
    return Text(zh=f"{first.zh}：{second.zh}", en=f"{first.en}: {second.en}")
