"""The mode rules: which inventory each mode may touch and what it demands of the operator."""

from __future__ import annotations

from typing import Literal

from orchestrator.errors import ModeRefused

Mode = Literal["plan", "drill", "live"]


def check_mode(
    mode: Mode,
    *,
    environment: str,
    inventory_name: str,
    auto_confirm: bool,
    reason: str | None,
    incident_id: str | None,
) -> None:
    """Refuse, with the reason and the way out, any mode that does not fit the inventory."""
    if auto_confirm and mode != "drill":
        raise ModeRefused(
            "--auto-confirm is allowed only in drill mode: in a live run every manual step "
            "and approval must be confirmed by a person. / --auto-confirm 仅允许在演练模式使用。"
        )
    if mode == "drill" and environment != "drill":
        raise ModeRefused(
            f"inventory {inventory_name!r} is marked environment: {environment}; a drill runs "
            "only on an inventory marked `environment: drill`. Use the drill inventory, or "
            "`dr run` for a real emergency. / 演练只能在标记为 drill 的清单上进行。"
        )
    if mode == "live":
        if environment != "production":
            raise ModeRefused(
                f"inventory {inventory_name!r} is marked environment: {environment}; `dr run` "
                "acts on production only. Rehearse with `dr drill` instead. / "
                "实战运行只能使用生产清单，演练请用 dr drill。"
            )
        if not (reason or incident_id):
            raise ModeRefused(
                "a live run needs --reason TEXT or --incident ID, so the record says why it "
                "was started. / 实战运行必须给出 --reason 或 --incident。"
            )
