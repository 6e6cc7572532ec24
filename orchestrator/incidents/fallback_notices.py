"""The manual-fallback notice of one tier: the IT department's instruction to the
affected branches to switch that tier's business to manual records (fallback.py)."""

from __future__ import annotations

from orchestrator.incidents.fallback import FallbackTier, affected_branches, contacts_at
from orchestrator.incidents.messages import local_text, roster
from orchestrator.incidents.records import Incident
from orchestrator.inventory.models import Inventory
from orchestrator.notify import Message
from orchestrator.text import Text


def fallback_message(incident: Incident, inventory: Inventory, tier: FallbackTier) -> Message:
    """To the people at the affected branches, and the level's roster (who relay it by
    phone to a branch with nobody listed, and know it was given)."""
    branches = affected_branches(incident, inventory)
    at_branches = contacts_at(inventory, branches)
    recipients = tuple(dict.fromkeys(at_branches + roster(inventory, incident.level)))
    hours = tier.after / 3600
    length_zh = f"{int(tier.after / 60)}分钟" if hours < 1 else f"{hours:g}小时"
    length_en = f"{int(tier.after / 60)} min" if hours < 1 else f"{hours:g} h"
    since = local_text(incident.outage_started_at or incident.started_at, inventory)
    names = "、".join(branches) or "全部网点"
    names_en = ", ".join(branches) or "all branches"
    relay_zh = "" if at_branches else "\n清单中没有网点联系人:值班人员请电话逐一通知各网点。"
    relay_en = (
        "" if at_branches else "\nNo branch contact is listed: the duty staff phone each branch."
    )
    body = Text(
        zh=f"{incident.summary}\n系统自 {since} 起中断已超过{length_zh}。"
        f"根据科技部门通知,以下网点即时启用第{tier.number}级手工操作:{names}。\n"
        f"{tier.business[0]}\n"
        "未接到科技部门新的通知前,不得自行恢复系统操作;系统恢复后按通知补录"
        "(重要数据当日完成,全部数据次日完成)。"
        f"{relay_zh}",
        en=f"{incident.summary}\nThe system has been down for over {length_en} (since "
        f"{since}). On the IT department's notice, these branches switch to manual "
        f"fallback tier {tier.number} now: {names_en}.\n{tier.business[1]}\n"
        "Do not go back to the system until the IT department says so; after recovery, "
        "re-enter the manual records (important data the same day, all of it the next)."
        f"{relay_en}",
    )
    return Message(
        key=f"{incident.id}:manual-fallback:{tier.number}",
        level=incident.level,
        title=Text(
            zh=f"[dr] {incident.id} 科技部门通知:启用第{tier.number}级手工操作"
            f"(中断超过{length_zh})",
            en=f"[dr] {incident.id} IT notice: manual fallback tier {tier.number} "
            f"(down over {length_en})",
        ),
        body=body,
        recipients=recipients,
        context={"incident_id": incident.id, "kind": "manual-fallback", "tier": tier.number},
    )
