"""The mode rules: which inventory each mode may touch and what it demands of the operator.

A run is a drill (a rehearsal, only on an inventory marked `environment: drill`) or live
(the real thing, only on production, and only with a recorded why). A plan is never a
run: `dr plan` shows the steps and touches nothing, so it needs no admission at all.
Callers ask `engine.admission.admit_run`, which applies these rules first.
"""

from __future__ import annotations

from orchestrator.errors import ModeRefused

RUN_MODES = ("drill", "live")


def check_mode(
    mode: str,
    *,
    environment: str,
    inventory_name: str,
    auto_confirm: bool,
    reason: str | None,
    incident_id: str | None,
) -> None:
    """Refuse, with the reason and the way out, any mode that does not fit the inventory."""
    if mode == "plan":
        raise ModeRefused(
            "a plan is never run: `dr plan` shows the steps without touching anything; "
            "rehearse them with `dr drill`, or carry them out with `dr run`. / "
            "计划只显示步骤，不执行。"
        )
    if mode not in RUN_MODES:
        raise ModeRefused(
            f"no run mode {mode!r}: a run is a drill (`dr drill`) or live (`dr run`). / "
            "运行模式只能是 drill 或 live。"
        )
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
        if not ((reason or "").strip() or incident_id):
            raise ModeRefused(
                "a live run needs --reason TEXT or --incident ID, so the record says why it "
                "was started. / 实战运行必须给出 --reason 或 --incident。"
            )
