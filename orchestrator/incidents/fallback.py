"""Manual fallback (手工操作) by outage length, and which branches an incident affects.

The pattern is the hospital plan's (002, "网络整体故障" §3.2 and §4.1): past 30 min, 6 h
and 24 h without the system, more of the business switches to manual records, and only
on the IT department's notice (所有手工操作的统一启动时间须由信息科通知). Here each tier
is a notice owed once to the people at the affected branches; after the outage the
manual records are re-entered (补录: important data the same day, all of it the next;
§6.4), which clocks.py tracks per branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator.incidents.records import Incident
from orchestrator.inventory.models import Inventory

MINUTE = 60
HOUR = 3600


@dataclass(frozen=True)
class FallbackTier:
    number: int
    after: int  # seconds of outage
    business: tuple[str, str]  # (zh, en): what switches to manual records at this tier


TIERS: tuple[FallbackTier, ...] = (
    FallbackTier(
        1,
        30 * MINUTE,
        (
            "柜面信贷业务转入手工登记:贷款发放、还款、展期逐笔登记《手工业务登记簿》"
            "(客户姓名、证件号码、借据号、金额、时间、经办柜员),凭证单独存放;"
            "暂停办理需系统额度校验的新贷款。",
            "counter credit business switches to manual registers: every loan disbursement, "
            "repayment and extension is written in the manual business register (customer, "
            "ID number, loan note number, amount, time, teller), its vouchers kept apart; "
            "new loans that need the system's limit check wait.",
        ),
    ),
    FallbackTier(
        2,
        6 * HOUR,
        (
            "信贷审批与客户信息维护转入纸质流程:新增客户与信息变更填写纸质《客户信息表》,"
            "审批意见手工签批留档;当日营业结束时由网点负责人核对手工登记簿并签字封存。",
            "loan approval and customer records go to paper: new customers and changes on "
            "the paper customer information form, approvals signed by hand and filed; at the "
            "close of business the branch manager checks and signs the manual register and "
            "seals it.",
        ),
    ),
    FallbackTier(
        3,
        24 * HOUR,
        (
            "全部信贷业务转入手工操作:按日装订手工登记簿和凭证,分日核对现金与凭证;"
            "征信报送暂停,恢复后按补录结果重新生成报文。",
            "all credit business is manual: the registers and vouchers are bound per day "
            "and cash is checked against them daily; credit reporting pauses and its "
            "messages are generated again from the re-entered records after recovery.",
        ),
    ),
)


def tiers_reached(incident: Incident, now: datetime) -> list[FallbackTier]:
    """The tiers the outage has passed, while it lasts: once service is back, nobody
    should be told to switch to manual records any more."""
    if incident.outage_started_at is None or incident.outage_ended_at is not None:
        return []
    if not incident.is_open:
        return []
    outage = incident.outage_seconds(now)
    return [tier for tier in TIERS if outage >= tier.after]


def manual_records_kept(incident: Incident) -> bool:
    """Whether the outage lasted long enough that branches kept manual records."""
    end = incident.restored_at
    return end is not None and incident.outage_seconds(end) >= TIERS[0].after


def affected_branches(incident: Incident, inventory: Inventory) -> tuple[str, ...]:
    """The branches the incident names, or else every branch site of the inventory (the
    credit system serves them all)."""
    if incident.aftermath.branches:
        return incident.aftermath.branches
    return tuple(site.name for site in inventory.sites if site.kind == "branch")


def contacts_at(inventory: Inventory, branches: tuple[str, ...]) -> tuple[str, ...]:
    """The contacts who work at these branch sites (a contact's `site:`)."""
    return tuple(c.name for c in inventory.contacts if c.site is not None and c.site in branches)
