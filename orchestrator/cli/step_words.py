"""A step's recorded result, and a run's or step's status, as words an operator reads.

The journal keeps what a step returned as JSON (any keys a runbook chose). People read
it in a table after a run: the sentence a check or wait gave (`detail`, in Chinese as
`detail_zh` where the runbook wrote one), then the other facts as "label: value", in the
language chosen, whole (the table wraps it; nothing is cut).
"""

from __future__ import annotations

import re
from datetime import tzinfo
from typing import Any

from orchestrator.engine.messages import in_language
from orchestrator.shown_times import shown_time
from orchestrator.text import Lang, Text

STATUS_WORDS: dict[str, Text] = {
    "succeeded": Text("成功", "succeeded"),
    "failed": Text("失败", "failed"),
    "skipped": Text("已跳过", "skipped"),
    "waiting": Text("等待中", "waiting"),
    "declined": Text("已拒绝", "declined"),
    "rolled_back": Text("已回滚", "rolled back"),
    "interrupted": Text("已中断", "interrupted"),
    "running": Text("进行中", "running"),
    "paused": Text("已暂停", "paused"),
    "aborted": Text("已中止", "aborted"),
    # Modes and measurement verdicts, printed beside the statuses.
    "drill": Text("演练", "drill"),
    "live": Text("实战", "live"),
    "met": Text("达标", "met"),
    "not met": Text("未达标", "not met"),
    "no target": Text("无目标", "no target"),
    "not measured": Text("未测得", "not measured"),
}

KIND_WORDS: dict[str, Text] = {
    "action": Text("操作", "action"),
    "check": Text("检查", "check"),
    "wait-until": Text("等待", "wait-until"),
    "manual": Text("人工", "manual"),
    "approval": Text("审批", "approval"),
    "sub-runbook": Text("子预案", "sub-runbook"),
    "marker": Text("标记", "marker"),
}

# The keys runbooks and the engine return most, named for a person, in the order they
# are said (the journal keeps a result's keys sorted, which reads "attached" before
# "detached"). Keys not here follow, by their own name, underscores as spaces.
_LABELS: dict[str, Text] = {
    "detail": Text("说明", "detail"),
    "reason": Text("原因", "reason"),
    "confirmed_by": Text("确认人", "confirmed by"),
    "approved_by": Text("批准人", "approved by"),
    "role": Text("角色", "role"),
    "proof": Text("凭据", "proof"),
    "polls": Text("检查次数", "checks"),
    "waited_s": Text("等待秒数", "waited (s)"),
    "switch": Text("交换机", "switch"),
    "detached": Text("断开端口", "port detached"),
    "attached": Text("接入端口", "port attached"),
    "port": Text("端口", "port"),
    "domain": Text("转发域", "domain"),
    "host": Text("主机", "host"),
    "hosts": Text("主机", "hosts"),
    "pair": Text("主备对", "pair"),
    "branch": Text("网点", "branch"),
    "branches": Text("网点", "branches"),
    "method": Text("方式", "method"),
    "how": Text("方式", "how"),
    "to": Text("目标", "to"),
    "old_primary": Text("原主机", "old primary"),
    "fenced_by": Text("隔离方式", "fenced by"),
    "already_in_effect": Text("此前已生效", "already in effect"),
    "ok": Text("通过", "ok"),
    "error": Text("错误", "error"),
    "exited": Text("退出码", "exit code"),
    "ups": Text("UPS", "UPS"),
    "generator": Text("发电机", "generator"),
    "url": Text("地址", "URL"),
    "database": Text("数据库", "database"),
    "tables": Text("表", "tables"),
    "moves": Text("线缆移动", "cable moves"),
    "marker": Text("标记", "marker"),
    "at": Text("时间", "at"),
    # recovery runbooks (dual-host cutover/switchover/switchback, standby rebuild,
    # restores, logical error, site loss, replication mode)
    "attempts": Text("隔离尝试", "fence attempts"),
    "fenced": Text("已隔离", "fenced"),
    "promoted": Text("已提升为主库", "promoted"),
    "replay_lsn": Text("回放位置", "replay position"),
    "last_replay_at": Text("最后回放的提交时间", "last replayed commit"),
    "data_point": Text("数据点", "data point"),
    "upstream": Text("上游主库", "upstream"),
    "rewound": Text("已用 pg_rewind 追平", "rewound"),
    "replayed_to": Text("已回放至", "replayed to"),
    "vip_on": Text("VIP 所在主机", "VIP on"),
    "released_from": Text("已让出服务的主机", "released from"),
    "inserted": Text("导回行数", "rows inserted"),
    "updated": Text("更新行数", "rows updated"),
    "listed": Text("已列出补录清单", "listed"),
    "lost_count": Text("丢失交易笔数", "writes lost"),
    "changed_count": Text("被改动交易笔数", "writes changed"),
    "lost_amount": Text("丢失金额合计", "amount lost"),
    "compared": Text("比对笔数", "writes compared"),
    "service_stop_exit": Text("停止服务退出码", "service stop exit code"),
    "db_stop_exit": Text("停止数据库退出码", "database stop exit code"),
    "stanza": Text("备份 stanza", "stanza"),
    "data_dir": Text("数据目录", "data directory"),
    "target": Text("恢复目标", "recovery target"),
    "repository": Text("备份库", "repository"),
    "backup_label": Text("备份标签", "backup label"),
    "seconds": Text("用时（秒）", "seconds"),
    "recovered_to": Text("恢复至", "recovered to"),
    "service": Text("服务", "service"),
    "on": Text("所在主机", "on"),
    "vip": Text("VIP", "VIP"),
    "into": Text("恢复到", "into"),
    "snapshot_time": Text("快照时间", "snapshot time"),
    "backup_set": Text("备份集", "backup set"),
    "skipped": Text("已跳过", "skipped"),
    # power, switch and fleet runbooks
    "runtime_s": Text("电池后备时间（秒）", "battery runtime (s)"),
    "charge_pct": Text("电池电量（%）", "battery charge (%)"),
    "load_pct": Text("UPS 负载（%）", "UPS load (%)"),
    "low_runtime_s": Text("关机阈值（秒）", "shutdown threshold (s)"),
    "margin_s": Text("距关机阈值（秒）", "margin above the threshold (s)"),
    "recipients": Text("通知对象", "recipients"),
    "sent": Text("已发送", "sent"),
    "failed": Text("失败", "failed"),
    "order": Text("关机顺序", "shutdown order"),
    "contact": Text("联系人", "contact"),
    "phone": Text("电话", "phone"),
    "email": Text("电子邮箱", "email"),
    "from": Text("原位置", "from"),
    "changed": Text("变更", "changed"),
    "check": Text("检查方式", "check"),
    "pid": Text("进程号", "pid"),
    "newest_message_at": Text("最新报文时间", "newest message at"),
}

_ORDER = {key: number for number, key in enumerate(_LABELS)}

# Words the engine itself records as a result's value or a run's detail.
_VALUES: dict[str, Text] = {
    "all steps succeeded": Text("全部步骤成功", "all steps succeeded"),
    "condition not met": Text("条件不满足", "condition not met"),
    "auto-confirm (drill)": Text("自动确认（演练）", "auto-confirm (drill)"),
}

_YES_NO = {True: Text("是", "yes"), False: Text("否", "no")}

# An ISO timestamp with its offset: a moment, safe to say in another zone. One without an
# offset (a parameter the operator wrote in the inventory's zone) is left as written.
_AWARE_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$"
)


def status_word(status: str | None, lang: Lang) -> str:
    """'成功' / 'succeeded'; a status this code does not know, as it is."""
    if not status:
        return "-"
    known = STATUS_WORDS.get(status)
    return known(lang) if known is not None else status


def kind_word(kind: str, lang: Lang) -> str:
    """'检查' / 'check': a step's kind; a kind this code does not know, as it is."""
    known = KIND_WORDS.get(kind)
    return known(lang) if known is not None else kind


def result_words(result: Any, lang: Lang, zone: tzinfo | None = None) -> str:
    """What a step returned, as one or more sentences; '' for nothing. Timestamps that
    carry their offset (as the engine and runbooks record them, in UTC) are said in
    `zone`, the run's inventory's, like every other time the operator reads."""
    if result is None or result == {} or result == []:
        return ""
    if not isinstance(result, dict):
        return _value(result, lang, zone)
    parts: list[str] = []
    sentence = result.get("detail_zh") if lang == "zh" else None
    sentence = sentence or result.get("detail")
    if sentence:
        parts.append(_value(sentence, lang, zone))
    for key, value in sorted(result.items(), key=lambda item: (_ORDER.get(item[0], 99), item[0])):
        if key in ("detail", "detail_zh", "error_zh") or value is None or value == "":
            continue
        if key == "ok" and value is True and sentence:
            continue  # a passed check's sentence says it
        colon = "：" if lang == "zh" else ": "
        parts.append(f"{label(key, lang)}{colon}{_value(value, lang, zone)}")
    return ("；" if lang == "zh" else "; ").join(parts)


def said(text: str, lang: Lang) -> str:
    """One of the engine's own phrases in `lang`; any other text as it is."""
    known = _VALUES.get(text)
    return known(lang) if known is not None else in_language(text, lang)


def label(key: str, lang: Lang) -> str:
    known = _LABELS.get(key)
    return known(lang) if known is not None else key.replace("_", " ")


def _value(value: Any, lang: Lang, zone: tzinfo | None = None) -> str:
    if isinstance(value, bool):
        return _YES_NO[value](lang)
    if isinstance(value, dict):
        if set(value) == {"zh", "en"}:
            return str(value[lang])
        # A fact with its own sentence (a fence attempt's `detail`, `detail_zh` beside it)
        # says the sentence in the language chosen, like a step's result does.
        if lang == "zh" and value.get("detail_zh"):
            value = {**value, "detail": value["detail_zh"]}
        inner = ", ".join(
            f"{label(str(k), lang)} {_value(v, lang, zone)}"
            for k, v in sorted(value.items(), key=lambda kv: (_ORDER.get(str(kv[0]), 99), kv[0]))
            if k not in ("detail_zh", "error_zh")
        )
        return f"({inner})"
    if isinstance(value, list):
        return ", ".join(_value(item, lang, zone) for item in value)
    if isinstance(value, float):
        return f"{value:g}"
    if zone is not None and isinstance(value, str) and _AWARE_TIMESTAMP.match(value):
        return shown_time(value, zone)
    return said(str(value), lang)
