"""What a step will touch, said before anything is touched: the plan hooks' context.

A step's plan hook (`@step.plan`, like `@step.verify`) is handed a `PlanContext` instead
of the run's `ctx`. It names each device the step will reach and the exact command it
will send there (`plan.ssh(host, command)`, `plan.switch(name, "detach", port)`,
`plan.ups(...)`, `plan.generator(...)`), and each inventory field the step needs and
does not find (`plan.need(item, "field", why)`), which becomes a FILE:LINE error of
`dr plan`. Commands come from the same inventory templates and builders the step uses;
secrets stay references (`env:NAME`), never resolved. `dr preflight` reaches the devices
named here, read-only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from orchestrator.errors import Problem, StepFailed, UserInputError
from orchestrator.text import Lang, Text, as_text
from orchestrator.transports import netdev_commands as vendor

if TYPE_CHECKING:
    from pydantic import BaseModel

    from orchestrator.engine.inventory_places import InventoryPlaces
    from orchestrator.engine.plan import PlannedStep
    from orchestrator.inventory import Host, Inventory, Switch

Via = Literal["ssh", "switch", "ups", "generator", "local", "http", "person"]
# A touch without a note (Text is frozen: one value serves every touch).
NO_NOTE = Text("", "")
SwitchOperation = Literal["read", "detach", "attach", "enable", "disable", "save"]


@dataclass(frozen=True)
class Touch:
    """One device a step reaches and what it sends there."""

    via: Via
    device: str  # the inventory name (host, switch, UPS, generator), or "local"
    address: str  # where it is reached: "10.77.0.11:22", "upsd 10.77.0.5:3493"
    commands: tuple[str, ...]
    port: str | None = None  # a switch port or UPS outlet the commands act on
    # When or why, e.g. "if the port is an access port", in each language: a person
    # reads it in `dr plan` and in the confirmation of a destructive step.
    note: Text = NO_NOTE
    changes: bool = True  # False: only reads
    # A switch's: the port operation, and the forwarding domain the port joins (attach)
    # or leaves (detach), where the plan knows it: what a confirmation names.
    operation: SwitchOperation | None = None
    domain: str | None = None
    # A person's tasks in Chinese, one for each of `commands` (which then hold the
    # English). Only a person's task has another language: a command is sent as written.
    commands_zh: tuple[str, ...] = ()

    def said(self, lang: Lang) -> tuple[str, ...]:
        """The commands, or a person's tasks in `lang`."""
        return self.commands_zh if lang == "zh" and self.commands_zh else self.commands

    def to_dict(self) -> dict[str, Any]:
        # The English under `note` as before, the Chinese beside it.
        return {
            **asdict(self),
            "commands": list(self.commands),
            "commands_zh": list(self.commands_zh),
            "note": self.note.en,
            "note_zh": self.note.zh,
        }


class PlanContext:
    """What a plan hook gets: the inventory and parameters, and recorders for what the step
    will touch and what it lacks. It reaches no device."""

    def __init__(
        self,
        inventory: Inventory,
        params: dict[str, Any],
        places: InventoryPlaces,
        facts: dict[str, Any] | None = None,
    ) -> None:
        self.inventory = inventory
        self.params = params
        # What the run has found so far (`ctx.remember`), when a running step is planned
        # to confirm it; empty for `dr plan`, which then names what it assumes.
        self.facts = facts or {}
        self.places = places
        self.touches: list[Touch] = []
        self.problems: list[Problem] = []

    # ---- looking things up (a miss is a problem of the plan, not an exception) ---------

    def hosts(self, selector: str) -> list[Host]:
        try:
            return self.inventory.select_hosts(selector.format(**self.params))
        except UserInputError as err:
            self.problems.append(self.places.problem(("hosts",), err.message))
            return []

    def need(self, item: BaseModel, field: str, why: str) -> None:
        """`item.field` is missing (or unusable) and the step needs it: a plan error there."""
        self.problems.append(self.places.field_problem(item, field, why))

    def problem(self, message: str, *path: str | int) -> None:
        self.problems.append(self.places.problem(tuple(path), message))

    # ---- what the step will touch --------------------------------------------------------

    # A note is a Text (what a person reads, in each language); plain text reads the
    # same in both (a VIP address, a command's own words).

    def ssh(
        self, host: Host | str, *commands: str, note: Text | str = "", changes: bool = True
    ) -> None:
        target = self.inventory.host(host) if isinstance(host, str) else host
        address = f"{target.ssh.user}@{target.address}:{target.ssh.port}"
        self.touches.append(
            Touch("ssh", target.name, address, commands, None, as_text(note), changes)
        )

    def local(self, *commands: str, note: Text | str = "") -> None:
        self.touches.append(Touch("local", "local", "this machine", commands, None, as_text(note)))

    def person(self, *tasks: Text | str, note: Text | str = "") -> None:
        """What a person does (a manual fence, a cable swap by hand, a branch call), in
        each language (plain text reads the same in both)."""
        said = [as_text(task) for task in tasks]
        self.touches.append(
            Touch(
                "person",
                "person",
                "on site",
                tuple(t.en for t in said),
                None,
                as_text(note),
                commands_zh=tuple(t.zh for t in said),
            )
        )

    def http(self, url: str, note: Text | str = "") -> None:
        self.touches.append(
            Touch("http", "service", url, (f"GET {url}",), None, as_text(note), False)
        )

    def switch(
        self,
        name: str,
        operation: SwitchOperation,
        port: str | None = None,
        domain: str | None = None,
        note: Text | str = "",
    ) -> None:
        """The CLI lines `operation` sends to switch `name`, from the vendor's command set.
        `domain`: the one an attach joins, or the one a detach takes the port out of.
        A VLAN switch's lines depend on the port's link type, read at run time: shown are
        those for an access port (Huawei trunk/hybrid ports are shut down instead)."""
        switch = self.inventory.switch(name)
        if not switch.managed or switch.device_type is None:
            self.touches.append(
                Touch(
                    "switch",
                    name,
                    "not managed by dr",
                    (),
                    port,
                    Text("由人工操作", "a person does this"),
                    operation=operation,
                    domain=domain,
                )
            )
            return
        lines, how = switch_lines(switch, operation, port, domain)
        if operation == "save" and not lines:
            return  # the inventory does not ask this switch to save: nothing is sent
        address = f"{switch.username}@{switch.address}:{switch.port} ({switch.device_type})"
        given = as_text(note)
        said = Text(
            "；".join(x for x in (given.zh, how.zh) if x),
            "; ".join(x for x in (given.en, how.en) if x),
        )
        self.touches.append(
            Touch(
                "switch",
                name,
                address,
                tuple(lines),
                port,
                said,
                operation != "read",
                operation=operation,
                domain=domain,
            )
        )

    def ups(self, name: str, *commands: str, note: Text | str = "", changes: bool = True) -> None:
        ups = self.inventory.ups(name)
        address = f"upsd {ups.nut_host}:{ups.nut_port} (UPS {ups.ups_name})"
        self.touches.append(Touch("ups", name, address, commands, None, as_text(note), changes))

    def generator(
        self, name: str, *commands: str, note: Text | str = "", changes: bool = True
    ) -> None:
        gen = self.inventory.generator(name)
        address = f"Modbus TCP {gen.modbus_host}:{gen.modbus_port} unit {gen.unit_id}"
        self.touches.append(
            Touch("generator", name, address, commands, None, as_text(note), changes)
        )


def switch_lines(
    switch: Switch, operation: SwitchOperation, port: str | None, domain: str | None
) -> tuple[list[str], Text]:
    """The lines for `operation` on `switch` and what they assume about the port."""
    cs = vendor.command_set(str(switch.device_type))
    nothing = NO_NOTE
    if operation == "read":
        return list(cs.status), nothing
    if operation == "save":
        if not switch.save or cs.save is None:
            return [], nothing
        return [cs.save.command], nothing
    if operation in ("enable", "disable"):
        return vendor.fill(getattr(cs, operation), port=port), nothing
    if cs.domain_kind == "bridge":
        templates = cs.detach if operation == "detach" else cs.attach
        return vendor.fill(templates, port=port, domain=domain), nothing
    zh, en = (
        "适用于 access 端口；先读取端口的链路类型",
        "for an access port; the port's link type is read first",
    )
    if operation == "detach":
        lines = [*cs.create_vlan, *cs.to_vlan]
        if cs.non_access_out is not None:
            zh += "（trunk/hybrid 端口改为关闭）"
            en += " (a trunk/hybrid port is shut down instead)"
        return vendor.fill(lines, port=port, vlan=switch.isolation_vlan), Text(zh, en)
    return vendor.fill(cs.to_vlan, port=port, vlan=domain), Text(zh, en)


def survey(
    planned: PlannedStep,
    hosts: tuple[str, ...],
    inventory: Inventory,
    places: InventoryPlaces,
    facts: dict[str, Any] | None = None,
) -> tuple[list[Touch], list[Problem]]:
    """Ask `planned`'s plan hook (once, or once per host for a step with targets) what it
    will touch. A hook that raises our own error has found something the run lacks."""
    hook = planned.step.plan_fn
    if hook is None:
        return [], []
    plan = PlanContext(inventory, planned.params, places, facts)
    try:
        if planned.step.targets:
            for name in hosts:
                hook(plan, inventory.host(name))
        else:
            hook(plan)
    except (StepFailed, UserInputError) as err:
        plan.problems.append(Problem(places.file, None, planned.path, err.message))
    return plan.touches, plan.problems
