"""What a destructive step will change, said to the operator before they confirm it.

The step's plan hook (plan_targets.py, the same one `dr plan` shows) names each device
it reaches and what it sends there; here each change becomes a sentence in the
operator's language: which switch, which ports leave which forwarding domain and which
join it; which host runs what; which UPS or generator is told what. A person's
confirmation then means a known change, not a step title. A step without a plan hook
is said by its hosts; one without hosts either, as such (`dr plan` lists it).
"""

from __future__ import annotations

from itertools import groupby
from typing import TYPE_CHECKING, Any

from orchestrator.engine.inventory_places import InventoryPlaces
from orchestrator.engine.plan_targets import Touch, survey
from orchestrator.transports import netdev_commands as vendor

if TYPE_CHECKING:
    from orchestrator.engine.plan import PlannedStep
    from orchestrator.engine.state import RunState
    from orchestrator.inventory import Host, Inventory
    from orchestrator.text import Lang


def what_changes(state: RunState, planned: PlannedStep, hosts: list[Host]) -> list[str]:
    """One sentence per device the step changes, in the order the step changes them, in
    the run's language."""
    names, lang = [h.name for h in hosts], state.options.lang
    return changes_of(planned, names, state.inventory, lang, state.facts)


def changes_of(
    planned: PlannedStep,
    hosts: list[str],
    inventory: Inventory,
    lang: Lang,
    facts: dict[str, Any] | None = None,
) -> list[str]:
    """`what_changes` for a step planned on `inventory` with the run's `facts` so far (none:
    the plan's assumptions, as `dr plan` shows them)."""
    places = InventoryPlaces(inventory)
    touches, _ = survey(planned, tuple(hosts), inventory, places, facts)
    changing = [t for t in touches if t.changes]
    if changing:
        return [
            _device_sentence(list(group), inventory, lang)
            for _, group in groupby(changing, key=lambda t: (t.via, t.device))
        ]
    if hosts:
        names = ", ".join(hosts)
        return [f"在主机 {names} 上执行本步" if lang == "zh" else f"runs on hosts {names}"]
    return [
        "本步未列出其改动的设备（见 `dr plan`）"
        if lang == "zh"
        else "this step names no device it changes (see `dr plan`)"
    ]


def _device_sentence(touches: list[Touch], inventory: Inventory, lang: Lang) -> str:
    first = touches[0]
    zh = lang == "zh"
    sep = "；" if zh else "; "
    colon = "：" if zh else ": "
    if first.via == "switch":
        head = f"交换机 {first.device}" if zh else f"switch {first.device}"
        if first.address == "not managed by dr":
            ports = ", ".join(t.port or "-" for t in touches)
            body = f"端口 {ports} 由人工操作" if zh else f"ports {ports}, by hand"
            return f"{head}{colon}{body}"
        said = sep.join(_switch_change(t, inventory, lang) for t in touches)
        return f"{head}{colon}{said}"
    commands = sep.join(command for t in touches for command in t.said(lang))
    # The plan hook's notes (why, or what is assumed) in the run's language.
    notes = sep.join(dict.fromkeys(t.note(lang) for t in touches if t.note(lang)))
    why = f"（{notes}）" if zh and notes else f" ({notes})" if notes else ""
    if first.via == "ssh":
        head = (
            f"主机 {first.device}（{first.address}）执行"
            if zh
            else f"host {first.device} ({first.address}) runs"
        )
        return f"{head}{colon}{commands}{why}"
    if first.via == "local":
        return f"{'本机执行' if zh else 'this machine runs'}{colon}{commands}{why}"
    if first.via == "person":
        return f"{'人工' if zh else 'by hand'}{colon}{commands}{why}"
    if first.via == "ups":
        return f"UPS {first.device}（{first.address}）{colon}{commands}{why}"
    if first.via == "generator":
        head = f"发电机 {first.device}" if zh else f"generator {first.device}"
        return f"{head}（{first.address}）{colon}{commands}{why}"
    return f"{first.device} {first.address}{colon}{commands}{why}"


def _switch_change(touch: Touch, inventory: Inventory, lang: Lang) -> str:
    """'port P leaves domain D (parked in isolation VLAN I)', 'port Q joins domain D', ..."""
    zh = lang == "zh"
    port, domain = touch.port or "-", touch.domain
    operation = touch.operation
    if operation == "detach":
        switch = inventory.switch(touch.device)
        parked = ""
        if switch.device_type is not None:
            bridge = vendor.command_set(str(switch.device_type)).domain_kind == "bridge"
            if not bridge:
                vlan = switch.isolation_vlan
                parked = f"，移入隔离 VLAN {vlan}" if zh else f", parked in isolation VLAN {vlan}"
        if domain:
            return (
                f"端口 {port} 退出转发域 {domain}{parked}"
                if zh
                else f"port {port} leaves domain {domain}{parked}"
            )
        return (
            f"端口 {port} 退出其转发域{parked}" if zh else f"port {port} leaves its domain{parked}"
        )
    if operation == "attach":
        return f"端口 {port} 加入转发域 {domain}" if zh else f"port {port} joins domain {domain}"
    if operation == "enable":
        return f"启用端口 {port}" if zh else f"port {port} enabled"
    if operation == "disable":
        return f"关闭端口 {port}" if zh else f"port {port} shut down"
    if operation == "save":
        return "保存配置" if zh else "configuration saved"
    lines = "; ".join(touch.commands)
    return f"发送 {lines}" if zh else f"sends {lines}"
